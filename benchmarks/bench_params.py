"""Parameter tree view vs. treescope, side by side in one process.

A 500-block NNX model (each block: Linear, LayerNorm, BatchNorm — 3 500 leaves): our tree view
(leaf records + the HTML view) vs. ``treescope.render_to_html`` of the same model.
Target: ours >= 20x faster. Also times ``stats=True`` (one batched device call) for reference.
Run: .venv/bin/python benchmarks/bench_params.py [--blocks 500 --rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
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
    print(f"  stats=True: first call (compiles) {first_stats:.2f} s, then {stats_s * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
