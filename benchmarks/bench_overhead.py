"""Overhead of jaxinspect on a jitted training step, ours vs. baseline in one process.

Configurations, interleaved in rounds so machine noise hits all alike:
  baseline   jaxinspect not loaded
  loaded     %load_ext jaxinspect, no sidebar (no thread runs)
  watched    loaded + one sidebar subscribed (hub flusher + 2 Hz heartbeat threads running)
Also: the cost of one Hub.publish (the hot path every collector uses), vs. a bare deque.append.

Run: .venv/bin/python benchmarks/bench_overhead.py [--steps 300 --rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import jax  # noqa: E402
import jax.numpy as jnp
from _common import record, subscribe_sidebar
from IPython.core.interactiveshell import InteractiveShell


def make_step():
    @jax.jit
    def step(w, x, y):
        def loss(w):
            h = jnp.tanh(x @ w[0])
            return jnp.mean((h @ w[1] - y) ** 2)

        g = jax.grad(loss)(w)
        return [wi - 0.01 * gi for wi, gi in zip(w, g, strict=True)]

    k = jax.random.key(0)
    w = [jax.random.normal(k, (256, 256)), jax.random.normal(k, (256, 16))]
    x = jax.random.normal(k, (128, 256))
    y = jax.random.normal(k, (128, 16))
    return step, w, x, y


def time_steps(step, w, x, y, n):
    t0 = time.perf_counter()
    for _ in range(n):
        w = step(w, x, y)
    jax.block_until_ready(w)
    return (time.perf_counter() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()

    ip = InteractiveShell.instance()
    step, w, x, y = make_step()
    time_steps(step, w, x, y, 20)  # compile + warm up

    from jaxinspect.glue import extension

    def configure(mode):
        if extension.current() is not None:
            ip.run_line_magic("unload_ext", "jaxinspect")
        if mode in ("loaded", "watched"):
            ip.run_line_magic("load_ext", "jaxinspect")
        if mode == "watched":
            subscribe_sidebar(extension.current())

    results = {m: [] for m in ("baseline", "loaded", "watched")}
    for r in range(args.rounds):
        for mode in list(results) if r % 2 == 0 else reversed(list(results)):  # alternate order
            configure(mode)
            results[mode].append(time_steps(step, w, x, y, args.steps))
    configure("baseline")

    print(
        f"jax {jax.__version__}, backend {jax.default_backend()}, {args.rounds} rounds x {args.steps} steps"
    )
    for mode, ts in results.items():
        med = statistics.median(ts)
        # each round runs every configuration back to back: the median of the per-round ratios is
        # robust to the machine speeding up or slowing down between rounds
        paired = statistics.median(t / b for t, b in zip(ts, results["baseline"], strict=True))
        print(f"  {mode:<9} {med * 1e6:9.1f} us/step   paired ratio to baseline {paired:.3f}")
        if mode != "baseline":
            record("1", f"jitted step, {mode} / not loaded", paired, "≤ 1.01" if mode == "loaded" else "≤ 1.02")

    from jaxinspect.live.hub import Hub

    hub, ring, n = Hub(), deque(maxlen=1000), 200_000
    rec = {"kind": "bench", "x": 1}
    t0 = time.perf_counter()
    for _ in range(n):
        ring.append(rec)
    bare = (time.perf_counter() - t0) / n
    hub.subscribe(lambda b: None)
    t0 = time.perf_counter()
    for _ in range(n):
        hub.publish(rec)
    pub = (time.perf_counter() - t0) / n
    hub.close()
    print(
        f"  Hub.publish {pub * 1e9:7.0f} ns/call (subscribed)   deque.append {bare * 1e9:5.0f} ns/call"
    )


if __name__ == "__main__":
    main()
