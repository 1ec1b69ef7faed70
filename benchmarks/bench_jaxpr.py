"""``%jaxpr`` rendering cost and output size, ours vs. JAX's own ``str(jaxpr)``, in one process.

1. A 5 000-equation program (a chain of sin/mul/add/sub) and a realistic one (grad of a
   Flax MLP, repeated layers, ~5 000 equations with nested jaxprs): time to build our records
   from the jaxpr and render the view's text twin, and its HTML, each vs. ``str(jaxpr)``.
   Target ratio <= 2 for both. Both come from the view's one document (render/doc.py) whose
   program listing is a ``Fast`` part; for comparison, the same listing written as one document
   node per equation (what the view would cost without its fast part) is timed too.
2. Output size of the HTML view for 5 000 and 50 000 equations. Target <= 2 MB, with a
   "N more equations" marker beyond the budget.

Rounds interleave ours and the baseline (each timing after a gc.collect(), the ways in a rotating
order); the median of the per-round ratios is reported, with the min–max over rounds.
Run: .venv/bin/python benchmarks/bench_jaxpr.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import gc
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
from jaxinspect.render import doc as docmodel  # noqa: E402
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
    gc.collect()  # each side starts from a clean heap, not the garbage of the one before
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def ours_text(jaxpr):
    """What ``%jaxpr --text`` / ``repr(view)`` does: records, then the view's text twin."""
    doc = jaxprlib.build_doc(jaxpr, "bench", source=True)
    return docmodel.to_text(jaxprview.page_doc(doc, source=True))


def ours(jaxpr):
    """What the notebook shows: records, then the view's HTML."""
    doc = jaxprlib.build_doc(jaxpr, "bench", source=True)
    return jaxprview.jaxpr_html(doc, source=True)


def _node_listing(doc):
    """The program listing as one document node per equation (and a section per nested body):
    the alternative to the view's ``Fast`` listing, timed for comparison only."""
    from jaxinspect.render.doc import Line, Section, Text

    labels = jaxprview.body_labels(doc)

    def eqn_line(eqn):
        parts = []
        for k, (n, t) in enumerate(eqn.outs):
            parts += [" " if k else "", Text(n, cls="v"), Text(f":{t}", cls="t")]
        parts += [" = " if eqn.outs else "", Text(eqn.prim, cls="p")]
        if eqn.params:
            parts.append("[" + " ".join(f"{k}={v}" for k, v in eqn.params) + "]")
        for n, t, lit in eqn.ins:
            parts += [" ", Text(n, cls="l" if lit else "v")] + ([Text(f":{t}", cls="t")] if lit else [])
        return Line(parts, cls="jx-e", title=eqn.source or None)

    def body_nodes(body):
        out = []
        for eqn in body.eqns:
            out.append(eqn_line(eqn))
            for key, index in eqn.subs:
                if index not in labels:
                    sub = doc.bodies[index]
                    out.append(Section(f"{key}={sub.name}", body_nodes(sub), open=sub.total <= 8, colon=False))
        return out

    return body_nodes(doc.bodies[0])


def nodes_text(jaxpr):
    doc = jaxprlib.build_doc(jaxpr, "bench", source=True)
    return docmodel.to_text(_node_listing(doc))


def nodes_html(jaxpr):
    doc = jaxprlib.build_doc(jaxpr, "bench", source=True)
    return docmodel.to_html(_node_listing(doc))


def _spread(ratios):
    return f"{statistics.median(ratios):5.2f} ({min(ratios):.2f}–{max(ratios):.2f})"


def compare(name, jaxpr, rounds):
    ways = {"text": ours_text, "html": ours, "nodes text": nodes_text, "nodes html": nodes_html}
    ratios = {k: [] for k in ways}
    times = {k: [] for k in ["str(jaxpr)", *ways]}
    size = 0
    order = list(ways.items())
    for r in range(rounds):
        for way, fn in order[r % len(order) :] + order[: r % len(order)]:  # each way first in turn
            b, _ = timed(lambda: str(jaxpr))
            o, out = timed(lambda fn=fn: fn(jaxpr))
            ratios[way].append(o / b)
            times["str(jaxpr)"].append(b)
            times[way].append(o)
            if way == "html":
                size = len(out.encode())
    doc = jaxprlib.build_doc(jaxpr, "bench")
    ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    print(f"{name} ({doc.stats.equations} eqns): str(jaxpr) {ms['str(jaxpr)']:.1f} ms; "
          f"html {size / 1e6:.2f} MB")  # fmt: skip
    for way in ways:
        note = "(target <= 2)" if way in ("text", "html") else "(a node per equation: not used)"
        print(f"  {way:<11} {ms[way]:7.1f} ms   ratio {_spread(ratios[way])} {note}")
    record("4", f"%jaxpr text / str(jaxpr), {name}", statistics.median(ratios["text"]), "≤ 2")
    record("4", f"%jaxpr view / str(jaxpr), {name}", statistics.median(ratios["html"]), "≤ 2")
    return statistics.median(ratios["text"]), size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, {args.rounds} rounds; "
          "ratios: median (min–max) over rounds")  # fmt: skip
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
