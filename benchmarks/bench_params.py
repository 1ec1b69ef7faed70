"""Parameter tree view vs. treescope, side by side in one process.

A 500-block NNX model (each block: Linear, LayerNorm, BatchNorm — 3 500 leaves): our tree view
(leaf records + the HTML view) vs. ``treescope.render_to_html`` of the same model.
Target: ours >= 20x faster. Also times ``stats=True`` for reference.

Then live sampling: a Flax MLP training loop calling ``jaxinspect.watch("params", params,
step=i)`` every step with the Params tab "visible" (interest 1 s: the sampler thread computes
norms, NaN/Inf counts and update sketches in the background) vs. the same loop without watch and
without the params sampler (jaxinspect loaded, a sidebar subscribed in both). Target <= 1.03.
Run: .venv/bin/python benchmarks/bench_params.py [--blocks 500 --rounds 3 --live-rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from _common import record  # noqa: E402
from flax import nnx  # noqa: E402

import jaxinspect  # noqa: E402


class Block(nnx.Module):
    def __init__(self, rngs):
        self.lin = nnx.Linear(16, 16, rngs=rngs)
        self.norm = nnx.LayerNorm(16, rngs=rngs)
        self.bn = nnx.BatchNorm(16, rngs=rngs)


class Model(nnx.Module):
    def __init__(self, n, rngs):
        self.blocks = nnx.List([Block(rngs) for _ in range(n)])


def ours(model):
    view = jaxinspect.params(model, title="model")
    return view._repr_mimebundle_()["text/html"]


def bench_live(rounds: int, seconds: float) -> None:
    import jax
    from _common import subscribe_sidebar
    from bench_compiles import make_train_step
    from IPython.core.interactiveshell import InteractiveShell

    from jaxinspect.glue import extension

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "jaxinspect")
    inspector = extension.current()
    subscribe_sidebar(inspector)
    inspector.transport._methods["interest"]({"params": 1.0})
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
    jaxinspect.watch("params", params, step=0)
    inspector.watcher.sample()  # compile the per-leaf sampling function once, off the clock
    inspector._params_due = 0.0
    times = {False: [], True: []}
    for r in range(rounds):
        for watched in (False, True) if r % 2 == 0 else (True, False):
            inspector.params_interval = 1.0 if watched else 0.0
            t0 = time.perf_counter()
            if watched:
                for i in range(steps):
                    params, opt_state, loss = step(params, opt_state, x, y)
                    jaxinspect.watch("params", params, step=i)
            else:
                for _ in range(steps):
                    params, opt_state, loss = step(params, opt_state, x, y)
            jax.block_until_ready(loss)
            times[watched].append((time.perf_counter() - t0) / steps)
    samples = inspector.watcher._seq.get("params", 0) - 1
    ip.run_line_magic("unload_ext", "jaxinspect")
    paired = statistics.median(o / b for o, b in zip(times[True], times[False], strict=True))
    record("6", "Flax step, watch() + Params sampler on / off", paired, "≤ 1.03")
    print(
        f"  live: Flax MLP step with watch() every step and the Params sampler at 1 Hz vs. neither "
        f"({steps} steps ≈ {seconds:.0f} s per run, {samples} samples): median paired ratio "
        f"{paired:.3f} (target <= 1.03) {'ok' if paired <= 1.03 else 'OVER TARGET'}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--live-rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=4.0)
    args = ap.parse_args()
    import treescope

    model = Model(args.blocks, nnx.Rngs(0))
    ours(model)  # warm imports
    t_ours, t_ts, sizes = [], [], {}
    for r in range(args.rounds):
        for name in ("ours", "treescope") if r % 2 == 0 else ("treescope", "ours"):
            t0 = time.perf_counter()
            html = ours(model) if name == "ours" else treescope.render_to_html(model)
            dt = time.perf_counter() - t0
            (t_ours if name == "ours" else t_ts).append(dt)
            sizes[name] = len(html)
    t0 = time.perf_counter()
    jaxinspect.params(model, stats=True)
    first_stats = time.perf_counter() - t0
    t0 = time.perf_counter()
    jaxinspect.params(model, stats=True)
    stats_s = time.perf_counter() - t0
    o, t = statistics.median(t_ours), statistics.median(t_ts)
    speedup = statistics.median(b / a for a, b in zip(t_ours, t_ts, strict=True))
    view = jaxinspect.params(model)
    print(f"{args.blocks}-block NNX model, {len(view.leaves)} leaves, {args.rounds} rounds (interleaved)")
    print(
        f"  tree view: ours {o * 1e3:.0f} ms ({sizes['ours'] / 1e6:.2f} MB html), treescope.render_to_html "
        f"{t:.2f} s ({sizes['treescope'] / 1e6:.2f} MB): median paired speedup {speedup:.0f}x "
        f"(target >= 20x) {'ok' if speedup >= 20 else 'UNDER TARGET'}"
    )
    record("6", f"params tree view, speedup over treescope ({args.blocks}-block NNX)", speedup, "≥ 20", "× faster")
    print(f"  stats=True: first call (compiles) {first_stats:.2f} s, then {stats_s * 1e3:.0f} ms")
    bench_live(args.live_rounds, args.seconds)


if __name__ == "__main__":
    main()
