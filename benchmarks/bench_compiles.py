"""Compile-event collection overhead, ours vs. baseline side by side in one process.

1. Steady state: a jitted training step of a small Flax MLP (linen + optax), with jaxinspect
   loaded (listeners + jit cache-miss hooks installed, a sidebar subscribed) vs. not loaded.
   Target ratio <= 1.02: nothing wraps the jitted call path, so cache hits cost nothing.
2. Recompile storm: 100 recompiles of a small function (new shapes each call), with vs. without.
   Target ratio <= 1.05.

Configurations are interleaved in rounds so machine noise hits both alike; medians reported.
Run: .venv/bin/python benchmarks/bench_compiles.py [--rounds 5 --steps 300 --recompiles 100]
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
import numpy as np  # noqa: E402
import optax  # noqa: E402
from _common import record, subscribe_sidebar
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(256)(x))
        x = nn.relu(nn.Dense(256)(x))
        return nn.Dense(10)(x)


def make_train_step():
    model = MLP()
    x = jnp.ones((64, 128))
    y = jnp.zeros((64,), jnp.int32)
    params = model.init(jax.random.key(0), x)
    tx = optax.adam(1e-3)
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, x, y):
        def loss_fn(p):
            logits = model.apply(p, x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    state = (params, opt_state)
    return step, state, x, y


def time_steps(step, state, x, y, n):
    params, opt_state = state
    t0 = time.perf_counter()
    for _ in range(n):
        params, opt_state, loss = step(params, opt_state, x, y)
    jax.block_until_ready(loss)
    return (time.perf_counter() - t0) / n, (params, opt_state)


def time_recompiles(n, offset):
    def make():
        return jax.jit(lambda v: v * 2.0 + 1.0)

    f = make()  # a fresh function each round: every shape below compiles anew
    xs = [np.ones(offset + i, np.float32) for i in range(n)]
    t0 = time.perf_counter()
    for v in xs:
        f(v).block_until_ready()
    return (time.perf_counter() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument(
        "--recompiles", type=int, default=100, help="per configuration, split over rounds"
    )
    args = ap.parse_args()

    from jaxinspect.glue import extension

    ip = InteractiveShell.instance()

    def configure(loaded: bool) -> None:
        if extension.current() is not None:
            ip.run_line_magic("unload_ext", "jaxinspect")
        if loaded:
            ip.run_line_magic("load_ext", "jaxinspect")
            subscribe_sidebar(extension.current())

    step, state, x, y = make_train_step()
    _, state = time_steps(step, state, x, y, 20)  # compile + warm up
    steady = {False: [], True: []}
    storm = {False: [], True: []}
    offset = 1
    events = 0
    for r in range(args.rounds):
        for loaded in (False, True) if r % 2 == 0 else (True, False):  # alternate the order
            configure(loaded)
            t, state = time_steps(step, state, x, y, args.steps)
            steady[loaded].append(t)
            per_round = max(1, args.recompiles // args.rounds)
            storm[loaded].append(time_recompiles(per_round, offset))
            offset += per_round
            if loaded:
                events += sum(
                    1
                    for e in extension.current().compile_log.event_list()
                    if e.fun_name == "<lambda>"
                )
    configure(False)

    def report(name, d, target):
        base, ours = statistics.median(d[False]), statistics.median(d[True])
        # each round times both configurations back to back: the median of those paired
        # ratios is robust to the machine speeding up or slowing down between rounds
        paired = statistics.median(o / b for o, b in zip(d[True], d[False], strict=True))
        ok = "ok" if paired <= target else "OVER TARGET"
        record("3", f"compiles: {name.split(' (')[0]}, loaded / not loaded", paired, f"≤ {target}")
        print(
            f"  {name:<26} baseline {base * 1e6:9.1f} us  jaxinspect {ours * 1e6:9.1f} us  "
            f"ratio of medians {ours / base:.3f}  median paired ratio {paired:.3f} "
            f"(target <= {target}) {ok}"
        )

    print(
        f"jax {jax.__version__}, {jax.default_backend()}, {args.rounds} rounds (interleaved), medians"
    )
    report(f"steady step ({args.steps} steps)", steady, 1.02)
    report(f"per recompile ({args.recompiles} each)", storm, 1.05)
    print(
        f"  recompile events recorded with reasons while loaded: {events} (expected {args.recompiles // args.rounds * args.rounds})"
    )


if __name__ == "__main__":
    main()
