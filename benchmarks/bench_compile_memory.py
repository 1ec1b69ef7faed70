"""What reading compiled memory costs at compile time (issue 16), in one process.

A real Flax (linen + optax) training step is compiled from scratch (a fresh function each time,
so nothing is served from JAX's caches) under three configurations, interleaved in rounds:

- ``off``: jaxinspect not collecting;
- ``no capture``: ``jaxinspect.profile()`` collecting compiles without the compiled-memory read
  (the XLA compile-entry hook not installed);
- ``capture``: ``jaxinspect.profile()`` as shipped, reading ``get_compiled_memory_stats()``,
  ``cost_analysis()`` and the device limit for each executable.

Reported: the wall time of the first call (trace + lower + compile), median with min–max per
configuration, and the time spent inside the read itself (``compilelib.compiled_memory``) per
compile. Target: the read takes ≤ 2% of the compile (median read / median first call). The
paired ratio of whole compiles (capture / no capture) is printed too; on a shared machine its
noise exceeds the read.

Run: .venv/bin/python benchmarks/bench_compile_memory.py [--rounds 9 --width 512]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from _common import record  # noqa: E402

import jaxinspect  # noqa: E402
from jaxinspect.collect import compilelib  # noqa: E402


def make_step(width: int, depth: int):
    """A fresh jitted Linen MLP training step (new function objects: compiles from scratch)."""

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            for _ in range(depth):
                x = nn.relu(nn.Dense(width)(x))
            return nn.Dense(10)(x)

    model = MLP()
    x = jnp.ones((128, width))
    y = jnp.zeros((128,), jnp.int32)
    params = model.init(jax.random.key(0), x)
    tx = optax.adam(1e-3)
    opt_state = tx.init(params)

    def train_step(params, opt_state, x, y):
        def loss_fn(p):
            logits = model.apply(p, x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return jax.jit(train_step), (params, opt_state, x, y)


def first_call(step, a) -> float:
    t0 = time.perf_counter()
    jax.block_until_ready(step(*a))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--depth", type=int, default=4)
    args = ap.parse_args()

    read_times: list[float] = []
    real_read = compilelib.compiled_memory

    def timed_read(*a, **k):
        t0 = time.perf_counter()
        try:
            return real_read(*a, **k)
        finally:
            read_times.append(time.perf_counter() - t0)

    compilelib.compiled_memory = timed_read
    real_install = compilelib.install_memory_hook

    def run(config: str) -> tuple[float, object]:
        step, a = make_step(args.width, args.depth)
        jax.block_until_ready(a)
        if config == "off":
            return first_call(step, a), None
        compilelib.install_memory_hook = real_install if config == "capture" else (lambda cb: None)
        try:
            with jaxinspect.profile() as p:
                t = first_call(step, a)
        finally:
            compilelib.install_memory_hook = real_install
        return t, p

    run("capture")  # warm up: imports, optax/flax tracing caches of the library code
    read_times.clear()
    configs = ("off", "no capture", "capture")
    times: dict[str, list[float]] = {c: [] for c in configs}
    memory = None
    for r in range(args.rounds):
        order = configs[r % 3 :] + configs[: r % 3]  # each configuration in each position
        for config in order:
            t, p = run(config)
            times[config].append(t)
            if config == "capture":
                (event,) = [e for e in p.events if e.fun_name == "train_step"]
                memory = event.memory
            elif config == "no capture":
                assert all(e.memory is None for e in p.events), "the hook was installed"
    compilelib.compiled_memory = real_read

    def line(name: str, xs: list[float]) -> str:
        return (
            f"  {name:<12} median {statistics.median(xs) * 1e3:8.1f} ms  "
            f"(min {min(xs) * 1e3:.1f} – max {max(xs) * 1e3:.1f} ms, n={len(xs)})"
        )

    print(
        f"jax {jax.__version__}, {jax.default_backend()}: first call (trace + lower + compile) of a "
        f"Linen MLP train step, width {args.width}, depth {args.depth}, {args.rounds} rounds"
    )
    for c in configs:
        print(line(c, times[c]))
    paired = statistics.median(
        c / n for c, n in zip(times["capture"], times["no capture"], strict=True)
    )
    reads = sorted(read_times)
    read_med = statistics.median(reads)
    share = read_med / statistics.median(times["capture"])
    print(
        f"  the read itself: median {read_med * 1e3:.3f} ms (min {reads[0] * 1e3:.3f} – max "
        f"{reads[-1] * 1e3:.3f} ms, n={len(reads)}), {share:.2%} of the compile"
    )
    print(
        f"  median paired ratio capture / no capture: {paired:.3f} (whole compiles: the machine's "
        "noise is larger than the read; the read's own time above is the figure)"
    )
    print(f"  recorded: {memory.text if memory else 'nothing'}")
    ok = "ok" if share <= 0.02 else "OVER TARGET"
    print(f"  read / compile {share:.2%} (target ≤ 2%) {ok}")
    record("16", "compiled memory: read time / compile time", share * 100, "≤ 2%", unit="%")


if __name__ == "__main__":
    main()
