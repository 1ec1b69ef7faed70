"""Cost of PRNG key tracking on an eager loop of split + sample, ours vs. baseline in one process.

Configurations, interleaved in rounds (order alternating) so machine noise hits all alike:
  not-loaded  jaxinspect not loaded
  off         %load_ext jaxinspect, key tracking off (nothing is wrapped)
  on          %load_ext jaxinspect + %jaxinspect keys on (every split and sample recorded)
  on+sidebar  tracking on, a sidebar subscribed (Keys snapshots published by the sampler)
  jax-checker jaxinspect not loaded, JAX's own jax_debug_key_reuse=True (for comparison)
Targets (issue 15): on / off <= 1.3 (median of per-round ratios, printed with the min–max over
rounds), off / not-loaded <= 1.01.

Then a jitted step called with a fresh key each call (``step(w, x, key)``), per call:
  not-loaded, on (default mode: a compiled call runs no jaxinspect Python and is not checked),
  on+jit-calls (``track_keys(jit_calls=True)``: every call with a consumed key input is checked,
  through JAX's Python dispatch path), jax-checker (``jax_debug_key_reuse``, which sends every
  call with key arguments down the same slow path).
Also: the static key-flow check of a traced program vs. tracing it (``jax.make_jaxpr``).

Run: .venv/bin/python benchmarks/bench_keys.py [--steps 200 --rounds 15]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import jax  # noqa: E402
import jax.numpy as jnp
from _common import record, subscribe_sidebar
from IPython.core.interactiveshell import InteractiveShell

_seeds = itertools.count(1)
_cpu: list[float] = []  # the loop thread's CPU time per step of each loop() call


def loop(n: int) -> float:
    """The eager pattern of a data pipeline / RL rollout: split the key, draw from each part.
    Timed until the results are ready; tracking's queued bookkeeping is included up to the last
    flush (at most QUEUE events are left for the next one). Each call seeds anew: the same seed
    twice in one run would draw the same numbers again, which tracking rightly reports."""
    key = jax.random.key(next(_seeds))
    acc = jnp.zeros(16)
    t0, c0 = time.perf_counter(), time.thread_time()
    for _ in range(n):
        key, k1, k2 = jax.random.split(key, 3)
        acc = acc + jax.random.normal(k1, (16,)) * jax.random.uniform(k2, (16,))
    jax.block_until_ready(acc)
    _cpu.append((time.thread_time() - c0) / n)
    return (time.perf_counter() - t0) / n


@jax.jit
def step(w, x, key):
    """A small jitted step drawing a dropout mask from its key input."""
    mask = jax.random.bernoulli(key, 0.9, x.shape)
    return w - 0.01 * jnp.tanh(x * mask).mean(0)


def jit_loop(n: int) -> float:
    """``n`` calls of the compiled step, each with its own key (made before the clock starts)."""
    keys = list(jax.random.split(jax.random.key(next(_seeds)), n))
    w, x = jnp.zeros(32), jnp.ones((16, 32))
    w = step(w, x, keys[0])
    jax.block_until_ready(w)
    t0, c0 = time.perf_counter(), time.thread_time()
    for k in keys[1:]:
        w = step(w, x, k)
    jax.block_until_ready(w)
    _cpu.append((time.thread_time() - c0) / (n - 1))
    return (time.perf_counter() - t0) / (n - 1)


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):.3f} (min–max {min(xs):.3f}–{max(xs):.3f})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()

    ip = InteractiveShell.instance()
    loop(50)  # compile + warm up
    jit_loop(20)

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
        if mode == "on+jit-calls":
            import jaxinspect  # noqa: PLC0415

            jaxinspect.track_keys(jit_calls=True)
        if mode == "on+sidebar":
            subscribe_sidebar(extension.current())

    def check(mode: str, uses: int) -> None:
        if mode.startswith("on"):
            keyslib.tracker().flush()  # what the timed loop left queued
            assert keyslib.tracker().consumed >= uses, "tracking did not record"
            assert not keyslib.tracker().reuses, "false positive on a correct loop"

    modes = ("not-loaded", "off", "on", "on+sidebar", "jax-checker")
    results: dict[str, list[float]] = {m: [] for m in modes}
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    for r in range(args.rounds):
        for mode in modes if r % 2 == 0 else tuple(reversed(modes)):
            configure(mode)
            loop(20)  # untimed: settle caches after switching configurations
            results[mode].append(loop(args.steps))
            cpu[mode].append(_cpu[-1])
            check(mode, 2 * args.steps)
    jit_modes = ("not-loaded", "on", "on+jit-calls", "jax-checker")
    jit_results: dict[str, list[float]] = {m: [] for m in jit_modes}
    jit_cpu: dict[str, list[float]] = {m: [] for m in jit_modes}
    for r in range(args.rounds):
        for mode in jit_modes if r % 2 == 0 else tuple(reversed(jit_modes)):
            configure(mode)
            jit_loop(20)
            jit_results[mode].append(jit_loop(args.steps))
            jit_cpu[mode].append(_cpu[-1])
            check(mode, args.steps if mode == "on+jit-calls" else 0)
    configure("not-loaded")

    def paired(res: dict, a: str, b: str) -> list[float]:  # per-round ratios: drift cancels out
        return [x / y for x, y in zip(res[a], res[b], strict=True)]

    print(f"jax {jax.__version__}, backend {jax.default_backend()}, {args.rounds} rounds x {args.steps} steps")
    print("eager split + sample loop (per step; ratios: median of per-round ratios, min–max over rounds):")
    for mode in modes:
        ts = results[mode]
        print(f"  {mode:<11} {statistics.median(ts) * 1e6:9.1f} us/step  (min–max {min(ts) * 1e6:.1f}–{max(ts) * 1e6:.1f})")
    on_off = paired(results, "on", "off")
    print(f"  on / off           {spread(on_off)}   (target <= 1.3)")
    # the loop thread's CPU time: what tracking adds to the loop's own thread, less sensitive
    # to other processes on a shared machine than wall time
    print(f"  on / off, loop-thread CPU time   {spread(paired(cpu, 'on', 'off'))}")
    print(f"  on+sidebar / off   {spread(paired(results, 'on+sidebar', 'off'))}")
    print(f"  off / not-loaded   {spread(paired(results, 'off', 'not-loaded'))}   (target <= 1.01)")
    print(f"  jax_debug_key_reuse=True / not-loaded   {spread(paired(results, 'jax-checker', 'not-loaded'))}   (JAX's own checker, typed keys only)")
    record("15", "eager split+sample loop, key tracking on / off (median)", statistics.median(on_off), "≤ 1.3")
    record("15", "  (min over rounds)", min(on_off), "—")
    record("15", "  (max over rounds)", max(on_off), "—")
    record("15", "eager split+sample loop, tracking off / not loaded", statistics.median(paired(results, "off", "not-loaded")), "≤ 1.01")
    record("15", "  (JAX's jax_debug_key_reuse on / not loaded, for comparison)", statistics.median(paired(results, "jax-checker", "not-loaded")), "—")

    print("jitted step, a fresh key each call (per call; wall time, and the calling thread's CPU time:")
    print("  the dispatch work each mode adds, which a shared machine disturbs less):")
    for mode in jit_modes:
        ts, cs = jit_results[mode], jit_cpu[mode]
        print(f"  {mode:<13} {statistics.median(ts) * 1e6:9.1f} us/call wall (min–max {min(ts) * 1e6:.1f}–{max(ts) * 1e6:.1f}), "
              f"{statistics.median(cs) * 1e6:7.1f} us/call CPU (min–max {min(cs) * 1e6:.1f}–{max(cs) * 1e6:.1f})")
    for mode in jit_modes[1:]:
        print(f"  {mode} / not-loaded   wall {spread(paired(jit_results, mode, 'not-loaded'))}; CPU {spread(paired(jit_cpu, mode, 'not-loaded'))}")
    print(f"  on+jit-calls / jax-checker   CPU {spread(paired(jit_cpu, 'on+jit-calls', 'jax-checker'))}")
    record("15", "jitted step, key tracking on (default: calls not checked) / not loaded", statistics.median(paired(jit_results, "on", "not-loaded")), "≤ 1.01")
    record("15", "jitted step, track_keys(jit_calls=True) / not loaded (calling-thread CPU)", statistics.median(paired(jit_cpu, "on+jit-calls", "not-loaded")), "—")
    record("15", "  (JAX's jax_debug_key_reuse on / not loaded, same step, CPU)", statistics.median(paired(jit_cpu, "jax-checker", "not-loaded")), "—")

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
