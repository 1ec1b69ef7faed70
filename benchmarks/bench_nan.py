"""The every-step NaN/Inf check (``watch()`` every step, ``nan_guard``) on / off, side by side.

Flax NNX training steps of three sizes on this CPU — a ≥ 5 ms step (MLP 1024 wide), a ~0.5 ms
step (MLP 128 wide) and a 500-block NNX model (1,500 leaves) — each timed in paired, interleaved
rounds: the loop with ``jaxinspect.watch("params", model, step=i)`` every step (an NNX Module is a
pytree: no ``nnx.state`` needed) vs. the same loop without it.
Also ``nan_guard`` around the 5 ms step, and the cost of one ``watch()`` call on the training
thread. Targets (issue 15): ≤ 1.03× for the ≥ 5 ms step; the others reported.
Run: .venv/bin/python benchmarks/bench_nan.py [--rounds 9 --seconds 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from _common import record  # noqa: E402
from flax import nnx  # noqa: E402

import jaxinspect  # noqa: E402
from jaxinspect import api  # noqa: E402


class MLP(nnx.Module):
    def __init__(self, width: int, depth: int, rngs: nnx.Rngs):
        self.layers = nnx.List([nnx.Linear(width, width, rngs=rngs) for _ in range(depth)])
        self.head = nnx.Linear(width, 10, rngs=rngs)

    def __call__(self, x):
        for layer in self.layers:
            x = nnx.relu(layer(x))
        return self.head(x)


class Block(nnx.Module):
    def __init__(self, rngs):
        self.lin = nnx.Linear(16, 16, rngs=rngs)
        self.norm = nnx.LayerNorm(16, rngs=rngs)

    def __call__(self, x):
        return self.norm(nnx.relu(self.lin(x))) + x


class Deep(nnx.Module):
    def __init__(self, n: int, rngs: nnx.Rngs):
        self.blocks = nnx.List([Block(rngs) for _ in range(n)])
        self.head = nnx.Linear(16, 10, rngs=rngs)

    def __call__(self, x):
        for b in self.blocks:
            x = b(x)
        return self.head(x)


def setup(model, batch, features):
    opt = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    x = jnp.ones((batch, features))
    y = jnp.zeros((batch,), jnp.int32)

    @nnx.jit
    def step(model, opt, x, y):
        def loss_fn(m):
            return optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss

    return model, opt, step, x, y


def linen_setup(width: int):
    """A Linen MLP trained by a plain jax.jit step on (params, opt_state): the ~0.5 ms case
    (nnx.jit's own Python costs ~2 ms a call here). Returns run()'s arguments: the 'model'
    watched is the params dict, carried in a one-element list."""
    import flax.linen as nn

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Dense(width)(x))
            return nn.Dense(10)(nn.relu(nn.Dense(width)(x)))

    net, tx = Net(), optax.adam(1e-3)
    x, y = jnp.ones((32, width)), jnp.zeros((32,), jnp.int32)
    params = net.init(jax.random.key(0), x)
    box = [params, tx.init(params)]

    @jax.jit
    def inner(params, opt_state, x, y):
        def loss_fn(p):
            return optax.softmax_cross_entropy_with_integer_labels(net.apply(p, x), y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    def step(model, opt, x, y):
        box[0], box[1], loss = inner(box[0], box[1], x, y)
        return loss

    return _Newest(box), None, step, x, y


class _Newest:
    """Stands for "the newest params" in run(): watch(name, tree) gets box[0] each step."""

    def __init__(self, box):
        self.box = box


def run(label, model, opt, step, x, y, rounds, seconds, issue_target=None):
    for _ in range(5):
        loss = step(model, opt, x, y)
    jax.block_until_ready(loss)
    t0 = time.perf_counter()
    for _ in range(20):
        loss = step(model, opt, x, y)
    jax.block_until_ready(loss)
    per = (time.perf_counter() - t0) / 20
    steps = max(30, int(seconds / per))
    tree = (lambda: model.box[0]) if isinstance(model, _Newest) else (lambda: model)
    jaxinspect.watch("params", tree(), step=0)  # compile the check off the clock
    watcher = api.SESSION.watcher
    watcher.checker.drain(120)
    times = {False: [], True: []}
    for r in range(rounds):
        for watched in (False, True) if r % 2 == 0 else (True, False):
            t0 = time.perf_counter()
            if watched:
                for i in range(steps):
                    loss = step(model, opt, x, y)
                    jaxinspect.watch("params", model.box[0] if isinstance(model, _Newest) else model, step=i)
            else:
                for _ in range(steps):
                    loss = step(model, opt, x, y)
            jax.block_until_ready(loss)
            times[watched].append((time.perf_counter() - t0) / steps)
            if watched:
                watcher.checker.drain(60)
    track = watcher._tracks["params"]
    checked, skipped = track.checked, track.unchecked_total
    ratios = [w / b for w, b in zip(times[True], times[False], strict=True)]
    med = statistics.median(ratios)
    # one watch() call on the training thread
    state = tree()
    n = 200
    t0 = time.perf_counter()
    for i in range(n):
        jaxinspect.watch("params", state, step=i)
    call_s = (time.perf_counter() - t0) / n
    watcher.checker.drain(60)
    api.unwatch("params")
    leaves = len(jax.tree_util.tree_leaves(state))
    print(
        f"  {label}: step {statistics.median(times[False]) * 1e3:.2f} ms, {leaves} leaves — watch() every "
        f"step on/off: median {med:.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}) over {rounds} "
        f"rounds; {checked} calls checked, {skipped} thinned by the cost cap; one watch() call "
        f"{call_s * 1e6:.0f} µs on the training thread"
    )
    if issue_target:
        record("15", f"every-step NaN check on / off, {label}", med, issue_target)
    return med


def run_guard(model, opt, step, x, y, rounds, seconds):
    guarded = jaxinspect.nan_guard(step)
    for _ in range(5):
        loss = guarded(model, opt, x, y)
    jax.block_until_ready(loss)
    api.SESSION.watcher.checker.drain(120)
    t0 = time.perf_counter()
    for _ in range(20):
        loss = step(model, opt, x, y)
    jax.block_until_ready(loss)
    steps = max(30, int(seconds / ((time.perf_counter() - t0) / 20)))
    times = {False: [], True: []}
    for r in range(rounds):
        for on in (False, True) if r % 2 == 0 else (True, False):
            fn = guarded if on else step
            t0 = time.perf_counter()
            for _ in range(steps):
                loss = fn(model, opt, x, y)
            jax.block_until_ready(loss)
            times[on].append((time.perf_counter() - t0) / steps)
    ratios = [g / b for g, b in zip(times[True], times[False], strict=True)]
    med = statistics.median(ratios)
    print(
        f"  nan_guard around the same step on/off: median {med:.3f} (min {min(ratios):.3f}, "
        f"max {max(ratios):.3f}) over {rounds} rounds"
    )
    record("15", "nan_guard around a ≥ 5 ms NNX step, on / off", med, "—")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--blocks", type=int, default=500)
    args = ap.parse_args()
    print(f"every-step NaN/Inf check, jax {jax.__version__} ({jax.default_backend()}), paired interleaved rounds")
    big = setup(MLP(384, 3, nnx.Rngs(0)), 128, 384)
    run("≥ 5 ms NNX MLP step", *big, args.rounds, args.seconds, "≤ 1.03")
    run("~0.5 ms Linen MLP step (jax.jit)", *linen_setup(96), args.rounds, args.seconds, "—")
    run(f"{args.blocks}-block NNX model", *setup(Deep(args.blocks, nnx.Rngs(2)), 16, 16), max(3, args.rounds // 3), args.seconds, "—")
    run_guard(*big, args.rounds, args.seconds)


if __name__ == "__main__":
    main()
