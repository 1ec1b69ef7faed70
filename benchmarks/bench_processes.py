"""A process of a multi-process job publishing to a notebook's collector, vs. not publishing.

The collector runs in another process (as the notebook's kernel would). In this process a Flax
MLP training loop runs with ``jaxinspect.connect()`` on (compile hooks, memory sampled every
second, every record forwarded over loopback) and off (jaxinspect not started), interleaved;
the median of per-round ratios is reported. Target <= 1.03.
Also: how many records per second the loop produces when connected, and how fast one forwarder
can push records to the collector (a flood of small records).

Run: .venv/bin/python benchmarks/bench_processes.py [--rounds 9 --seconds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import jax  # noqa: E402
from _common import record  # noqa: E402
from bench_compiles import make_train_step  # noqa: E402

COLLECTOR = (
    "import sys, time, jaxinspect\n"
    "c = jaxinspect.collect_processes()\n"
    "print(c.address, c.token, flush=True)\n"
    "sys.stdin.read()\n"
    "print(sum(r['records'] for r in c.processes()), flush=True)\n"
)


def run_for(step, state, x, y, seconds):
    params, opt_state = state
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(20):
            params, opt_state, loss = step(params, opt_state, x, y)
        n += 20
    jax.block_until_ready(loss)
    return (time.perf_counter() - t0) / n, (params, opt_state)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()

    from jaxinspect.glue import processes

    collector = subprocess.Popen(
        [sys.executable, "-c", COLLECTOR], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    address, token = collector.stdout.readline().split()
    step, state, x, y = make_train_step()
    _, state = run_for(step, state, x, y, 1.0)  # compile, warm up

    ratios, rates = [], []
    for r in range(args.rounds):
        order = ("off", "on") if r % 2 == 0 else ("on", "off")
        times = {}
        for mode in order:
            conn = processes.connect(address, token=token) if mode == "on" else None
            sent0 = conn.status()["sent"] if conn else 0
            times[mode], state = run_for(step, state, x, y, args.seconds)
            if conn is not None:
                conn.inspector.hub.flush()
                time.sleep(0.2)
                rates.append((conn.status()["sent"] - sent0) / args.seconds)
                conn.close()
        ratios.append(times["on"] / times["off"])
        print(f"round {r}: off {times['off'] * 1e3:.3f} ms/step, on {times['on'] * 1e3:.3f} ms/step, "
              f"ratio {ratios[-1]:.3f}", flush=True)
    ratio = statistics.median(ratios)
    print(f"training step, connected to a collector / not: median ratio {ratio:.3f} (target <= 1.03)")
    print(f"records forwarded while training: {statistics.median(rates):.1f}/s")

    # a flood: one forwarder pushing small records as fast as the hub hands them over
    from jaxinspect.live import remote
    from jaxinspect.live.hub import Hub

    hub = Hub(max_rate=1000, max_pending=100_000)
    fwd = remote.Forwarder(hub, address, token, lambda: {"host": "bench", "pid": 1})
    n = 200_000
    t0 = time.perf_counter()
    for i in range(n):
        hub.publish({"kind": "status", "seq": i, "busy": True})
        if i % 5000 == 0:
            hub.flush()
    hub.flush()
    while fwd.status()["sent"] + fwd.status()["dropped"] < n and time.perf_counter() - t0 < 60:
        time.sleep(0.01)
    took = time.perf_counter() - t0
    st = fwd.status()
    fwd.close()
    hub.close()
    collector.stdin.close()
    received = int(collector.stdout.readline() or 0)
    collector.wait(timeout=30)
    print(f"forwarder flood: {st['sent'] / took:,.0f} records/s sent, {st['dropped']} dropped; "
          f"the collector folded {received:,} records in all")
    record("9", "Flax step, publishing to a collector (connect()) / not", round(ratio, 3), "≤ 1.03")
    record("9", "records forwarded per second while training", round(statistics.median(rates), 1), "—", "/s")
    record("9", "forwarder → collector throughput (small records)", round(st["sent"] / took), "—", "/s")


if __name__ == "__main__":
    main()
