"""``%jaxpr`` rendering cost and output size, ours vs. JAX's own ``str(jaxpr)``, in one process.

1. A 5 000-equation program (a chain of sin/mul/add/sub) and a realistic one (grad of a
   Flax MLP, repeated layers, ~5 000 equations with nested jaxprs): time to build our records
   from the jaxpr and render the HTML view, vs. ``str(jaxpr)``. Target ratio <= 2.
2. Output size of the HTML view for 5 000 and 50 000 equations. Target <= 2 MB, with a
   "N more equations" marker beyond the budget.

Rounds interleave ours and the baseline; medians of the per-round ratios are reported.
Run: .venv/bin/python benchmarks/bench_jaxpr.py [--rounds 7]
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
from _common import record

from jaxinspect.collect import jaxprlib  # noqa: E402
from jaxinspect.render import jaxprview  # noqa: E402


def chain(n):
    def f(x):
        for _ in range(n // 4):
            x = jnp.sin(x) * 2.0 + x - 1.0
        return x

    return jax.make_jaxpr(f)(jnp.ones(3))


class Block(nn.Module):
    @nn.compact
    def __call__(self, x):
        y = nn.LayerNorm()(x)
        y = nn.gelu(nn.Dense(64)(y))
        return x + nn.Dense(32)(y)


class Model(nn.Module):
    depth: int

    @nn.compact
    def __call__(self, x):
        for _ in range(self.depth):
            x = Block()(x)
        return x


def flax_grad(depth):
    model = Model(depth)
    x = jnp.ones((8, 32))
    params = model.init(jax.random.key(0), x)
    loss = lambda p: (model.apply(p, x) ** 2).mean()  # noqa: E731
    return jax.make_jaxpr(jax.grad(loss))(params)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def ours(jaxpr):
    doc = jaxprlib.build_doc(jaxpr, "bench", source=True)
    return jaxprview.jaxpr_html(doc)


def compare(name, jaxpr, rounds):
    ratios, base_t, ours_t = [], [], []
    size = 0
    for _ in range(rounds):
        b, _ = timed(lambda: str(jaxpr))
        o, html = timed(lambda: ours(jaxpr))
        ratios.append(o / b)
        base_t.append(b)
        ours_t.append(o)
        size = len(html.encode())
    doc = jaxprlib.build_doc(jaxpr, "bench")
    print(
        f"{name:<34} {doc.stats.equations:>7} eqns   str(jaxpr) {statistics.median(base_t) * 1e3:7.1f} ms"
        f"   ours {statistics.median(ours_t) * 1e3:7.1f} ms   ratio {statistics.median(ratios):5.2f}"
        f" (target <= 2)   html {size / 1e6:.2f} MB"
    )
    record("4", f"%jaxpr view / str(jaxpr), {name}", statistics.median(ratios), "≤ 2")
    return statistics.median(ratios), size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, {args.rounds} rounds")
    compare("chain of sin/mul/add/sub", chain(5000), args.rounds)
    compare("grad of a 40-block Flax MLP", flax_grad(40), args.rounds)
    big = chain(50_000)
    html = ours(big)
    marker = "more equations not shown" in html
    print(
        f"{'output budget, 50 000 equations':<34} html {len(html.encode()) / 1e6:.2f} MB "
        f"(target <= 2 MB), 'N more' marker: {marker}"
    )
    record("4", "%jaxpr HTML for 50 000 equations", len(html.encode()) / 1e6, "≤ 2 MB", " MB")


if __name__ == "__main__":
    main()
