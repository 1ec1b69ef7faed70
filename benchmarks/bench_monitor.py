"""The in-cell monitor under load, ours vs. baseline in one process.

  rate      a tight loop logging a scalar every step (far above 10 000 steps/s): messages sent per
            second to the front end (target: <= ~10/s) and the bytes per message (deltas)
  log cost  the loop with monitor.log() vs. the same loop without it (per-step cost)
  training  a jitted training step with a monitor open (sampler running: buffers + watched params
            every second, deltas every 0.1 s) vs. no monitor

Run: .venv/bin/python benchmarks/bench_monitor.py [--seconds 3 --rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import jax  # noqa: E402
import jax.numpy as jnp
from _common import record
from IPython.core.interactiveshell import InteractiveShell


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "jaxinspect")
    from jaxinspect.glue import extension
    from jaxinspect.glue.monitor import Monitor

    inspector = extension.current()

    # 1. message rate under a fast loop
    mon = Monitor(inspector, mode="widget", plot=False)
    sizes: list[int] = []
    mon.widget.send = lambda msg: sizes.append(len(json.dumps(msg)))
    t0 = time.perf_counter()
    step = 0
    while time.perf_counter() - t0 < args.seconds:
        mon.log(step, loss=1.0 / (step + 1))
        step += 1
    elapsed = time.perf_counter() - t0
    mon.flush(final=True)
    assert mon.widget.snapshot["scalars"]["loss"][-1][0] == step - 1, "final state lost"
    print(f"jax {jax.__version__}, backend {jax.default_backend()}")
    record("8", f"monitor messages/s under a {step / elapsed:,.0f} steps/s loop", len(sizes) / elapsed, "≤ ~10", "/s")
    print(
        f"  rate: {step / elapsed:,.0f} steps/s logged; {len(sizes) / elapsed:.1f} messages/s "
        f"(target <= ~10); median message {statistics.median(sizes):,} bytes, max {max(sizes):,}"
    )

    # 2. the cost of monitor.log per step
    def loop(n: int, log) -> float:
        t = time.perf_counter()
        acc = 0.0
        for i in range(n):
            acc += i * 0.5
            if log is not None:
                log(i, loss=acc)
        return (time.perf_counter() - t) / n

    bare, logged = [], []
    for _ in range(args.rounds):
        bare.append(loop(200_000, None))
        logged.append(loop(200_000, mon.log))
    print(f"  log cost: {statistics.median(logged) * 1e9 - statistics.median(bare) * 1e9:,.0f} ns per monitor.log call")
    mon.close()

    # 3. a jitted training step with and without a monitor
    @jax.jit
    def train_step(w, x):
        loss, g = jax.value_and_grad(lambda w: jnp.mean(jnp.tanh(x @ w) ** 2))(w)
        return w - 0.01 * g, loss

    w = jnp.ones((512, 512))
    x = jnp.ones((256, 512))
    w = train_step(w, x)[0].block_until_ready()
    import jaxinspect

    def steps(n: int, m) -> float:
        nonlocal w
        t = time.perf_counter()
        for i in range(n):
            w, loss = train_step(w, x)
            if m is not None:
                m.log(i, loss=loss)  # a device scalar: read on the monitor's thread
                jaxinspect.watch("w", w, step=i)
        w.block_until_ready()
        return (time.perf_counter() - t) / n

    off, on = [], []
    for r in range(args.rounds):
        for mode in ("off", "on") if r % 2 == 0 else ("on", "off"):
            if mode == "on":
                m = Monitor(inspector, mode="widget", plot=False)
                m.widget.send = lambda msg: None
                on.append(steps(200, m))
                m.close()
            else:
                off.append(steps(200, None))
    ratio = statistics.median(o / f for o, f in zip(on, off, strict=True))
    record("8", "jitted step with a monitor open (log + watch) / without", ratio, "—")
    print(
        f"  training: {statistics.median(off) * 1e3:.2f} ms/step without, {statistics.median(on) * 1e3:.2f} ms/step with a "
        f"monitor (log + watch each step, sampler on): ratio {ratio:.3f} (paired median)"
    )
    ip.run_line_magic("unload_ext", "jaxinspect")


if __name__ == "__main__":
    main()
