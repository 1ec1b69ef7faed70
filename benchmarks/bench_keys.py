"""Cost of PRNG key tracking on an eager loop of split + sample, ours vs. baseline in one process.

Configurations, interleaved in rounds (order alternating) so machine noise hits all alike:
  not-loaded  jaxinspect not loaded
  off         %load_ext jaxinspect, key tracking off (nothing is wrapped)
  on          %load_ext jaxinspect + %jaxinspect keys on (every split and sample recorded)
  on+sidebar  tracking on, a sidebar subscribed (Keys snapshots published by the sampler)
  jax-checker jaxinspect not loaded, JAX's own jax_debug_key_reuse=True (for comparison)
Targets (issue 7): on / off <= 1.5, off / not-loaded <= 1.01.
Also: the static key-flow check of a traced program vs. tracing it (``jax.make_jaxpr``).

Run: .venv/bin/python benchmarks/bench_keys.py [--steps 300 --rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import jax  # noqa: E402
import jax.numpy as jnp
from _common import record, subscribe_sidebar
from IPython.core.interactiveshell import InteractiveShell


def loop(n: int) -> float:
    """The eager pattern of a data pipeline / RL rollout: split the key, draw from each part.
    Timed until the results are ready; tracking's queued bookkeeping is included up to the last
    flush (at most QUEUE events are left for the next one)."""
    key = jax.random.key(0)
    acc = jnp.zeros(16)
    t0 = time.perf_counter()
    for _ in range(n):
        key, k1, k2 = jax.random.split(key, 3)
        acc = acc + jax.random.normal(k1, (16,)) * jax.random.uniform(k2, (16,))
    jax.block_until_ready(acc)
    return (time.perf_counter() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()

    ip = InteractiveShell.instance()
    loop(50)  # compile + warm up

    from jaxinspect.collect import keyslib
    from jaxinspect.glue import extension

    def configure(mode: str) -> None:
        jax.config.update("jax_debug_key_reuse", mode == "jax-checker")
        if extension.current() is not None:
            ip.run_line_magic("unload_ext", "jaxinspect")  # also stops tracking
        if mode not in ("not-loaded", "jax-checker"):
            ip.run_line_magic("load_ext", "jaxinspect")
        if mode.startswith("on"):
            ip.run_line_magic("jaxinspect", "keys on --clear")
        if mode == "on+sidebar":
            subscribe_sidebar(extension.current())

    modes = ("not-loaded", "off", "on", "on+sidebar", "jax-checker")
    results: dict[str, list[float]] = {m: [] for m in modes}
    for r in range(args.rounds):
        for mode in modes if r % 2 == 0 else tuple(reversed(modes)):
            configure(mode)
            loop(20)  # untimed: settle caches after switching configurations
            results[mode].append(loop(args.steps))
            if mode.startswith("on"):
                keyslib.tracker().flush()  # what the timed loop left queued
                assert keyslib.tracker().consumed >= 2 * args.steps, "tracking did not record"
                assert not keyslib.tracker().reuses, "false positive on a correct loop"
    configure("not-loaded")

    print(f"jax {jax.__version__}, backend {jax.default_backend()}, {args.rounds} rounds x {args.steps} steps")
    med = {m: statistics.median(ts) for m, ts in results.items()}
    for mode in modes:
        print(f"  {mode:<11} {med[mode] * 1e6:9.1f} us/step")
    def paired(a: str, b: str) -> float:  # median of per-round ratios: drift cancels out
        return statistics.median(x / y for x, y in zip(results[a], results[b], strict=True))

    print(f"  on / off           {paired('on', 'off'):.3f}   (target <= 1.5; paired median of rounds)")
    record("7", "eager split+sample loop, key tracking on / off", paired("on", "off"), "≤ 1.5")
    record("7", "eager split+sample loop, tracking off / not loaded", paired("off", "not-loaded"), "≤ 1.01")
    record("7", "  (JAX's jax_debug_key_reuse on / not loaded, for comparison)", paired("jax-checker", "not-loaded"), "—")
    print(f"  on+sidebar / off   {paired('on+sidebar', 'off'):.3f}")
    print(f"  off / not-loaded   {paired('off', 'not-loaded'):.3f}   (target <= 1.01)")
    print(f"  jax_debug_key_reuse=True / not-loaded   {paired('jax-checker', 'not-loaded'):.3f}   (JAX's own checker, typed keys only)")

    # the static check that runs when jit traces while tracking is on
    from jaxinspect.collect import jaxprlib, keyflow

    def step(key, x):
        for _ in range(20):
            key, k1, k2 = jax.random.split(key, 3)
            x = jnp.tanh(x + jax.random.normal(k1, x.shape) * jax.random.bernoulli(k2, 0.5, x.shape))
        return x

    args_ = (jax.random.key(0), jnp.ones((8, 8)))
    trace, analyze = [], []
    namer = jaxprlib.source_namer()
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        jaxpr = jax.make_jaxpr(step)(*args_)
        trace.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        flow = keyflow.analyze(jaxpr, namer)
        analyze.append(time.perf_counter() - t0)
    assert flow is not None and not flow.findings and flow.splits == 20
    t, a = statistics.median(trace), statistics.median(analyze)
    t0 = time.perf_counter()
    jax.jit(step).lower(*args_).compile()
    c = time.perf_counter() - t0
    print(
        f"  key-flow check of a 20-split program ({len(jaxpr.eqns)} top-level equations): {a * 1e3:.2f} ms; "
        f"tracing it {t * 1e3:.2f} ms, lowering + compiling it {c * 1e3:.0f} ms "
        f"(check / trace+compile {a / (t + c):.4f})"
    )


if __name__ == "__main__":
    main()
