"""Buffer snapshots and the buffers sampler, ours vs. baseline side by side in one process.

1. Snapshot cost with 10 000 live arrays and a realistic namespace (a 2 000-block params tree,
   a list of 1 500 device losses, 500 arrays only reachable through a closure, host data, a
   20 000-string list): ``take_snapshot`` + summary record (owners and creation sites included)
   vs. the naive baseline of listing ``jax.live_arrays()`` with shape/dtype/nbytes.
   Target: <= 150 ms for ours.
1b. The same on real models (issue 15): ~10 000 arrays held by an NNX transformer (attention,
   layer norms, MLPs) and its optax adamw state in an ``nnx.Optimizer`` — the walk goes through
   modules, Variables and optimizer states — vs. 10 000 flat arrays (a list and a dict), ours on
   each, median with min–max over rounds. Target: <= 150 ms for the model.
2. A Flax MLP training loop with the Buffers tab "visible" (interest 1 s: the sampler thread
   snapshots the live arrays every second, or less often when a snapshot is expensive — at most
   ~2% of the time) vs. no buffers sampler (jaxinspect loaded, a sidebar subscribed; loaded vs.
   not loaded is bench_compiles.py). Target ratio <= 1.03.

Rounds interleave the configurations; medians of per-round ratios are reported.
Run: .venv/bin/python benchmarks/bench_buffers.py [--rounds 7 --seconds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from _common import record, subscribe_sidebar  # noqa: E402
from bench_compiles import make_train_step  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402

from jaxinspect.analyze import bufferstats  # noqa: E402
from jaxinspect.collect import bufferlib  # noqa: E402


def realistic_namespace() -> dict:
    params = {
        f"block{i}": {
            "dense": {"kernel": jnp.ones((4, 4)), "bias": jnp.ones(4)},
            "norm": {"scale": jnp.ones(4), "bias": jnp.ones(4)},
        }
        for i in range(2000)
    }
    losses = [jnp.float32(i) + 0 for i in range(1500)]
    hidden = [jnp.ones(2) for _ in range(500)]

    def make():
        keep = list(hidden)
        return lambda: keep

    return {
        "params": params,
        "losses": losses,
        "closure": make(),
        "data": np.ones((1000, 100)),
        "names": [str(i) for i in range(20000)],
        "cfg": {"lr": 1e-3, "layers": list(range(100))},
    }


def naive(ns) -> int:
    total = 0
    for a in jax.live_arrays():
        total += a.nbytes
        _ = (a.shape, a.dtype)
    return total


def ours(ns):
    snap = bufferlib.take_snapshot(ns)
    return bufferstats.summarize(snap, 1, "api", None)


def bench_snapshot(rounds: int) -> None:
    ns = realistic_namespace()
    n = len(jax.live_arrays())
    base_t, ours_t = [], []
    for r in range(rounds):
        order = (naive, ours) if r % 2 == 0 else (ours, naive)
        for fn in order:
            t0 = time.perf_counter()
            out = fn(ns)
            dt = time.perf_counter() - t0
            (base_t if fn is naive else ours_t).append(dt)
            if fn is ours:
                rec = out
    ours_med, base_med = statistics.median(ours_t), statistics.median(base_t)
    owned = sum(g.arrays for g in rec.owners)
    record("5", f"buffers snapshot, {n} live arrays", ours_med * 1e3, "≤ 150 ms", " ms")
    print(
        f"  snapshot, {n} live arrays: ours {ours_med * 1e3:.1f} ms (target <= 150 ms) "
        f"{'ok' if ours_med <= 0.150 else 'OVER TARGET'}; naive live_arrays listing "
        f"{base_med * 1e3:.1f} ms; ratio {ours_med / base_med:.1f}x; owners found for "
        f"{owned + 0} in the top groups, unowned {rec.unowned.arrays}"
    )


def nnx_transformer(n_arrays: int = 10_000):
    """An NNX transformer LM and its adamw optimizer holding about ``n_arrays`` arrays."""
    import optax
    from flax import nnx

    class Block(nnx.Module):
        def __init__(self, d: int, rngs: nnx.Rngs) -> None:
            self.attn = nnx.MultiHeadAttention(
                num_heads=2, in_features=d, qkv_features=d, decode=False, rngs=rngs
            )
            self.ln1 = nnx.LayerNorm(d, rngs=rngs)
            self.ln2 = nnx.LayerNorm(d, rngs=rngs)
            self.fc1 = nnx.Linear(d, 2 * d, rngs=rngs)
            self.fc2 = nnx.Linear(2 * d, d, rngs=rngs)

    class LM(nnx.Module):
        def __init__(self, n: int, d: int, rngs: nnx.Rngs) -> None:
            self.embed = nnx.Embed(64, d, rngs=rngs)
            self.blocks = nnx.List([Block(d, rngs) for _ in range(n)])

    per_block = 16 * 3  # 16 params, and adamw's mu and nu for each
    model = LM(max(1, n_arrays // per_block), 8, nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adamw(1e-3), wrt=nnx.Param)
    return {"model": model, "optimizer": optimizer, "cfg": {"lr": 1e-3}}


def _time_ours(ns: dict, rounds: int) -> tuple[list[float], list[float], Any]:
    """Wall and CPU seconds of ``ours`` per round (CPU: on a shared machine the wall time also
    counts other processes' turns)."""
    wall, cpu, rec = [], [], None
    ours(ns)  # warm: caches per type and dtype
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        rec = ours(ns)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu, rec


def _spread(ts: list[float]) -> str:
    return f"{statistics.median(ts) * 1e3:.0f} ms (min {min(ts) * 1e3:.0f}, max {max(ts) * 1e3:.0f})"


def bench_model_snapshot(rounds: int) -> None:
    """Ours on ~10 000 arrays held by an NNX model + optimizer, then (the model freed) ours on
    10 000 flat arrays: the same process, the same number of live arrays."""
    import gc

    before = len(jax.live_arrays())
    ns = nnx_transformer()
    n_model = len(jax.live_arrays()) - before
    model_t, model_cpu, model_rec = _time_ours(ns, rounds)
    owned = n_model - model_rec.unowned.arrays
    del ns
    gc.collect()
    flat = {"many": [jnp.full((2,), float(i)) for i in range(n_model // 2)]}
    flat["table"] = {f"w{i}": jnp.full((3,), float(i)) for i in range(n_model - n_model // 2)}
    flat_t, flat_cpu, _rec = _time_ours(flat, rounds)
    del flat
    gc.collect()
    med = statistics.median(model_t)
    record("15", f"buffers snapshot, {n_model} arrays held by an NNX transformer + adamw", med * 1e3, "≤ 150 ms", " ms")
    print(
        f"  snapshot, {n_model} arrays held by an NNX transformer and its adamw optimizer: ours "
        f"{_spread(model_t)} wall, {_spread(model_cpu)} CPU (target <= 150 ms) "
        f"{'ok' if med <= 0.150 else 'OVER TARGET'}; {n_model} flat arrays (list + dict): ours "
        f"{_spread(flat_t)} wall, {_spread(flat_cpu)} CPU; owners found for {owned} of "
        f"{n_model}, partial walk: {model_rec.partial}"
    )


def bench_sampler(rounds: int, seconds: float) -> None:
    """jaxinspect loaded with a sidebar subscribed in both configurations; only the buffers
    sampler differs (Buffers tab visible at 1 Hz, or not). The sampler keeps its own schedule
    across rounds, as it would through one long training run."""
    from jaxinspect.glue import extension

    ip = InteractiveShell.instance()
    ip.user_ns.update(realistic_namespace())  # the sampler walks a realistic namespace
    ip.run_line_magic("load_ext", "jaxinspect")
    inspector = extension.current()
    subscribe_sidebar(inspector)
    interest = inspector.transport._methods["interest"]

    step, state, x, y = make_train_step()
    params, opt_state = state
    for _ in range(20):
        params, opt_state, loss = step(params, opt_state, x, y)
    jax.block_until_ready(loss)
    t0 = time.perf_counter()
    for _ in range(50):
        params, opt_state, loss = step(params, opt_state, x, y)
    jax.block_until_ready(loss)
    steps = max(50, int(seconds / ((time.perf_counter() - t0) / 50)))
    times = {False: [], True: []}
    interest({"buffers": 1.0})
    for r in range(rounds):
        for watched in (False, True) if r % 2 == 0 else (True, False):
            inspector.buffer_interval = 1.0 if watched else 0.0  # keeps the sampler's schedule
            t0 = time.perf_counter()
            for _ in range(steps):
                params, opt_state, loss = step(params, opt_state, x, y)
            jax.block_until_ready(loss)
            times[watched].append((time.perf_counter() - t0) / steps)
    last = inspector.buffer_tracker.last
    snapshots = inspector.buffer_tracker.seq
    ip.run_line_magic("unload_ext", "jaxinspect")
    paired = statistics.median(o / b for o, b in zip(times[True], times[False], strict=True))
    record("5", "training step, buffers sampler on / off", paired, "≤ 1.03")
    print(
        f"  training step, buffers sampler at 1 Hz vs. no sampler ({steps} steps ≈ {seconds:.0f} s "
        f"per run; {snapshots} snapshots of {last.arrays if last else 0} arrays, last took "
        f"{(last.took_s if last else 0) * 1e3:.0f} ms, effective interval "
        f"{(last.interval_s or 0) if last else 0:.1f} s): median paired ratio {paired:.3f} "
        f"(target <= 1.03) {'ok' if paired <= 1.03 else 'OVER TARGET'}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--only", choices=("snapshot", "model", "sampler"), default=None)
    args = ap.parse_args()
    print(f"jax {jax.__version__}, {jax.default_backend()}, {args.rounds} rounds (interleaved)")
    if args.only in (None, "snapshot"):
        bench_snapshot(args.rounds)
    if args.only in (None, "model"):
        bench_model_snapshot(args.rounds)
    if args.only in (None, "sampler"):
        bench_sampler(args.rounds, args.seconds)


if __name__ == "__main__":
    main()
