"""The report to share (``jaxinspect.report``) after a long session: its size and the time to write it.

A long session, built through the session's real paths: ``--compiles`` compile events through the
inspector's compile listener (records as JAX's listeners would produce them: writing thousands of
real compiles would take minutes and measure XLA), ``--snapshots`` real buffer snapshots of the
live arrays while they grow, ``--samples`` real samples of a watched parameter tree (one of them
NaN), and key reuses recorded by ``track_keys``. Then ``report(html, trace=json)`` is written
``--rounds`` times (a buffer snapshot taken each time, as a user's call does).

Targets: the HTML page ≤ 2 MB and written (with the trace) in ≤ 1 s; the trace ≤ 3 MB.
Run: .venv/bin/python benchmarks/bench_report.py [--compiles 6000 --snapshots 600 --samples 2000 --rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from _common import record  # noqa: E402

from jaxinspect.collect import bufferlib, keyslib  # noqa: E402
from jaxinspect.config import config  # noqa: E402
from jaxinspect.glue.inspector import Inspector  # noqa: E402
from jaxinspect.glue.session import Session, track_keys  # noqa: E402
from jaxinspect.records import CompileEvent, Reason  # noqa: E402


def compile_event(i: int, t: float, functions: int) -> CompileEvent:
    fun = i % functions
    first = i < functions
    reason = (
        Reason("first_call", None, None, None, "first call")
        if first
        else Reason("shape", "batch", f"({i},)", f"({i + 1},)", f"`batch` changed shape ({i}, 128) → ({i + 1}, 128)",
                    details=tuple(f"batch['x{k}'] changed shape" for k in range(12)))
    )  # fmt: skip
    return CompileEvent(
        id=i, fun_key=f"model.py:step_{fun}", fun_name=f"train_step_{fun}", defined_at="/src/model.py:12",
        call_site=f"/tmp/ipykernel_1/{fun}.py:{i % 40 + 1}", cell=i // 50 + 1, trace_s=0.004, lower_s=0.002,
        compile_s=0.02, total_s=0.026, persistent_cache=None, time=t, thread="MainThread", process_index=0,
        internal=False, parent=None, api="call", signature="batch: {'x': float32[64,128], 'y': int32[64]}",
        reasons=(reason,),
    )  # fmt: skip


def build(args) -> tuple[Session, dict]:
    session = Session()
    inspector = Inspector(serve_comms=False)
    session.attach(inspector, None)
    t0 = time.time() - args.compiles * 0.1
    for i in range(args.compiles):
        inspector._on_compile(compile_event(i, t0 + i * 0.1, args.functions))  # noqa: SLF001 - the listener
    held: list = []
    namespace = {"held": held}
    for k in range(args.snapshots):
        if k % 3 == 0:
            held.append(jnp.ones((64, 64)) * k)  # memory that grows over the session
        snap = bufferlib.take_snapshot(namespace, cell_of=None)
        inspector.buffer_tracker.add(snap, "sampler", 1.0)
    params = {f"layer_{j}": {"w": jnp.ones((32, 32)), "b": jnp.zeros(32)} for j in range(8)}
    step = jax.jit(lambda p: jax.tree_util.tree_map(lambda w: w * 0.999 + 0.001, p))
    for s in range(args.samples):
        params = step(params)
        if s == args.samples - 50:
            params["layer_3"]["w"] = params["layer_3"]["w"].at[0, 0].set(jnp.nan)
        session.watch("params", params, step=s)
        session.watcher.sample(1.0)
    session.check_watched()
    with warnings.catch_warnings(), track_keys(on_reuse="ignore"):
        warnings.simplefilter("ignore")
        for r in range(50):
            key = jax.random.key(r)
            jax.random.normal(key, (2,))
            jax.random.uniform(key, (2,))  # a reuse
            keyslib.tracker().new_run()
    return session, namespace


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--compiles", type=int, default=6000)
    ap.add_argument("--functions", type=int, default=200)
    ap.add_argument("--snapshots", type=int, default=600)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    start = time.perf_counter()
    config.print_alerts = False  # the alerts are in the report; not on this benchmark's stderr
    session, namespace = build(args)
    built = time.perf_counter() - start
    out = Path(tempfile.mkdtemp(prefix="jaxinspect-report-"))
    times = []
    written = None
    for _ in range(args.rounds):
        t = time.perf_counter()
        written = session.report(out / "run.html", trace=out / "run.trace.json", namespace=namespace)
        times.append(time.perf_counter() - t)
    assert written is not None and written.level == "info", written
    html_mb = written.bytes / 2**20
    trace_mb = written.trace_bytes / 2**20
    med = statistics.median(times)
    data = session.report_data(namespace)
    print(f"jax {jax.__version__}, backend {jax.default_backend()}; session built in {built:.1f} s: "
          f"{data.compiles_total:,} compiles ({len(data.events):,} kept) of {len(data.functions)} functions, "
          f"{data.memory_total:,} buffer snapshots (drawn at {len(data.memory)} points), "
          f"{len(data.watch):,} watch samples kept, {sum(r.count for r in data.reuses)} key reuses "
          f"({len(data.reuses)} distinct), {len({a.id for a in data.param_alerts})} NaN alert")  # fmt: skip
    print(f"report: HTML {html_mb:.2f} MiB, trace {trace_mb:.2f} MiB; written in median {med * 1e3:.0f} ms "
          f"(min {min(times) * 1e3:.0f}, max {max(times) * 1e3:.0f}) over {args.rounds} rounds")  # fmt: skip
    print(repr(written))
    record("17", f"report HTML after {args.compiles:,} compiles, {args.snapshots} snapshots, {args.samples:,} samples",
           html_mb, "≤ 2 MB", " MB")  # fmt: skip
    record("17", "report trace JSON (same session)", trace_mb, "≤ 3 MB", " MB")
    record("17", "report HTML + trace written (median)", med * 1e3, "≤ 1000 ms", " ms")
    session.detach()
    session.inspector = None


if __name__ == "__main__":
    main()
