"""An ipyparallel engine publishing to the notebook through the cluster, vs. not publishing.

A real cluster on localhost (``ipyparallel.Cluster``: a controller and ONE engine); this process
plays the notebook: ``jaxinspect.collect_processes(rc)`` listens on the controller's IOPub, so the
engine's records really travel (engine -> its IOPub -> the controller -> this process). On the
engine a Flax MLP training step (``bench_compiles.make_train_step``, the model the loopback
benchmark uses) runs for ``--seconds`` at the top level of a cell, its parameters in the engine's
globals as a notebook's would be (the buffer snapshot walks them), counting steps per second:

  off  jaxinspect not loaded on the engine (round 0: never imported there; later rounds: after
       ``%unload_ext jaxinspect``, which must leave no thread or hook behind: checked and printed)
  on   ``%load_ext jaxinspect`` on the engine: compile hooks, buffers sampled every second, the
       liveness thread every second, every batch sent with ``publish_data`` (parameter trees are
       sampled only once given to ``watch()``: none here; ``bench_params`` measures that)

Why one engine in one process, loaded and unloaded in turn: the cost is per process (each engine
publishes from its own threads through its own IOPub socket), and two engines side by side on
this 2-core machine would measure their contention for the cores, not jaxinspect; two engines run
in turn would compare two processes (their memory layout, their core) as well as the two modes.
One process, both modes in a sandwich per round (off on off, then on off on) with the same
compiled step, compares only the modes. The controller's forwarding and this process's listening
run on the same cores during ``on`` and so count against it, as they would on a one-host cluster.

This machine's other users swing its load by a core within seconds, which moves a round's ratio
by ±20%; so besides the raw ratio each segment's other load is measured (``/proc/stat`` less the
engine, the controller and this process) and a least-squares fit holds it fixed, and the CPU each
engine thread spends says directly what publishing costs (less sensitive to that load).

Reported: the median ratio of steps/s (off / on) with min-max over rounds (target <= 1.03), the
same from each segment's median block of 20 steps, the ratio adjusted for the other load, the
records per second this process received (by kind), the number of ``stack`` records (stacks are
taken only when asked or when a process looks stuck: a normal run has none), the CPU each engine
thread used per second while publishing (the profile that says what costs what), and the cost of
one liveness reading (``stacklib.Probe.read`` on a thread, as the liveness thread calls it) and of
the whole liveness thread as a share of a second.

Teardown is bounded even on error: the engine's pid is SIGKILLed, then the cluster stopped.

Run: .venv/bin/python benchmarks/bench_ipyparallel.py [--rounds 7 --seconds 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # run from a checkout

from _common import record  # noqa: E402

SETUP = f"""
import os, sys, threading, time
sys.path[:0] = [{str(ROOT)!r}, {str(HERE)!r}]
import jax
from bench_compiles import make_train_step
step, (params, opt_state), x, y = make_train_step()
for _ in range(50):
    params, opt_state, loss = step(params, opt_state, x, y)
jax.block_until_ready(loss)
_TICK = os.sysconf("SC_CLK_TCK")

def _thread_cpu():
    '''CPU seconds per thread of this process: Python threads by name (their CPU clocks, ns),
    the others (XLA's, zmq's) by their OS name (/proc, clock ticks).'''
    out, py = {{}}, set()
    for t in threading.enumerate():
        try:
            secs = time.clock_gettime(time.pthread_getcpuclockid(t.ident))
        except (OSError, TypeError, AttributeError):
            continue
        name = "main" if t is threading.main_thread() else t.name
        out[name] = out.get(name, 0.0) + secs
        py.add(t.native_id)
    for tid in os.listdir("/proc/self/task"):
        if int(tid) in py:
            continue
        try:
            with open(f"/proc/self/task/{{tid}}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/self/task/{{tid}}/comm") as f:
                name = f"[{{f.read().strip()}}]"
        except OSError:
            continue
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / _TICK
    return out

def _published():
    '''Records published on this engine so far, by kind (empty when jaxinspect is not loaded).'''
    ext = sys.modules.get("jaxinspect.glue.extension")
    inspector = ext.current() if ext is not None else None
    return dict(inspector.hub.counts()) if inspector is not None else {{}}

def _residue():
    '''What jaxinspect left running: its threads (none when it is not loaded).'''
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("jaxinspect"))
"""

# the training loop, at the top level of a cell as in a notebook
LOOP = """
_cpu0, _pub0 = _thread_cpu(), _published()
_n, _t0, _blocks = 0, time.perf_counter(), []
_tb = _t0
while _tb - _t0 < {seconds}:
    for _ in range(20):
        params, opt_state, loss = step(params, opt_state, x, y)
    _n += 20
    _tb, _prev = time.perf_counter(), _tb
    _blocks.append(_tb - _prev)
jax.block_until_ready(loss)
_wall = time.perf_counter() - _t0
_first = _blocks[0]
_blocks.sort()
_cpu1, _pub1 = _thread_cpu(), _published()
_res = {{"steps_per_s": _n / _wall, "wall": _wall, "steps": _n, "block_steps_per_s": 20 / _blocks[len(_blocks) // 2],
        "first_ms": _first * 1e3, "max_ms": _blocks[-1] * 1e3,
        "published": {{k: v - _pub0.get(k, 0) for k, v in _pub1.items()}},
        "cpu": {{k: v - _cpu0.get(k, 0.0) for k, v in _cpu1.items()}}}}
"""

LOAD = "%load_ext jaxinspect"
UNLOAD = "%unload_ext jaxinspect"


def machine_busy() -> float:
    """CPU seconds the whole machine has spent not idle (``/proc/stat``; 0 where there is none)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def adjusted_ratio(segments: list[tuple[bool, float, float]]) -> tuple[float, float, float] | None:
    """off/on steps/s with the other users' load held at its mean: the least-squares fit
    ``steps/s = a + b * their cores + c * publishing``; with c's ±2 standard errors."""
    import numpy as np

    if len(segments) < 4:
        return None
    on = np.array([float(p) for p, _r, _o in segments])
    rate = np.array([r for _p, r, _o in segments])
    others = np.array([o for _p, _r, o in segments])
    X = np.column_stack([np.ones_like(on), others, on])
    coef, *_ = np.linalg.lstsq(X, rate, rcond=None)
    resid = rate - X @ coef
    dof = max(1, len(rate) - 3)
    cov = (resid @ resid / dof) * np.linalg.pinv(X.T @ X)
    se = float(np.sqrt(max(0.0, cov[2, 2])))
    base = coef[0] + coef[1] * others.mean()
    c = float(coef[2])
    return base / (base + c), base / (base + c + 2 * se), base / (base + c - 2 * se)


def _kill(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (OSError, TypeError):
            pass


class Counting:
    """Wraps the bridge's publish: counts what this process receives, by record kind."""

    def __init__(self, publish):
        self._publish = publish
        self.kinds: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, rec):
        kind = rec.get("kind")
        if kind == "remote" and isinstance(rec.get("record"), dict):
            kind = str(rec["record"].get("kind"))
        with self._lock:
            self.kinds[kind] += 1
        self._publish(rec)

    def take(self) -> Counter[str]:
        with self._lock:
            return Counter(self.kinds)


def liveness_cost(reads: int = 300, repeats: int = 5) -> tuple[float, float]:
    """µs per ``Probe.read()`` of the main thread from another thread, the main thread waiting 40
    frames deep (as an engine's does, under its event loop and the cell), and µs per whole
    reading as the liveness thread does it (read, the record to JSON, published into a hub with a
    subscriber). The best of ``repeats`` runs of ``reads`` each: this machine's other users only
    ever add."""
    from jaxinspect.collect import stacklib
    from jaxinspect.live.hub import Hub

    probe = stacklib.Probe()
    hub = Hub()
    token = hub.subscribe(lambda batch: None)
    out: dict[str, list[float]] = {"read": [], "whole": []}
    done = threading.Event()

    def bench() -> None:
        for _ in range(50):
            probe.read()
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(reads):
                probe.read()
            out["read"].append((time.perf_counter() - t0) / reads)
            t0 = time.perf_counter()
            for _ in range(reads):
                rec, stack = probe.read()
                hub.publish(rec.to_json())
                if stack is not None:
                    hub.publish(stack.to_json())
            out["whole"].append((time.perf_counter() - t0) / reads)
        done.set()

    def deep(n: int) -> None:
        if n:
            deep(n - 1)
        else:
            th = threading.Thread(target=bench)
            th.start()
            done.wait()
            th.join()

    deep(40)
    hub.unsubscribe(token)
    hub.close()
    return min(out["read"]) * 1e6, min(out["whole"]) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--verbose", action="store_true", help="each segment's first and longest block of 20 steps")
    args = ap.parse_args()

    try:
        import ipyparallel as ipp
        import psutil  # ipyparallel's own dependency
    except ImportError as exc:
        print(f"skipped: ipyparallel is not installed ({exc}); pip install ipyparallel")
        return

    import jaxinspect

    cluster = ipp.Cluster(n=1, log_level=40)
    rc = None
    pids: list[int] = []
    collector = None
    try:
        rc = cluster.start_and_connect_sync()
        rc.wait_for_engines(1, timeout=120)
        pids = rc[:].apply_sync(os.getpid)
        engine = rc[0]
        engine.execute(SETUP, block=True)
        collector = jaxinspect.collect_processes(rc)
        counting = Counting(collector.server._publish)
        collector.server._publish = counting  # the bridge calls it per record it receives
        controller = cluster.controller.process  # psutil.Process

        # the count below sees stacks when there are any: ask for them once (the doorbell)
        engine.execute(LOAD, block=True)
        time.sleep(1.0)
        before = counting.take()
        collector.stacks(timeout=5)
        time.sleep(0.5)
        asked = (counting.take() - before).get("stack", 0)
        engine.execute(UNLOAD, block=True)

        ratios, rates, block_ratios = [], [], []
        segments: list[tuple[bool, float, float]] = []  # (publishing, steps/s, other users' cores)
        kinds_on: Counter[str] = Counter()  # received by this process
        published: Counter[str] = Counter()  # published on the engine while training
        cpu = {"on": Counter(), "off": Counter()}  # engine thread CPU seconds
        wall = {"on": 0.0, "off": 0.0}
        steps = {"on": 0, "off": 0}
        ctl_cpu = {"on": 0.0, "off": 0.0}
        own_cpu = {"on": 0.0, "off": 0.0}  # this process: the bridge's thread, the collector's
        busy = {"on": 0.0, "off": 0.0}  # the whole machine
        me = psutil.Process()
        residue: list[str] = []
        for r in range(args.rounds):
            # a sandwich (off on off, then on off on): a drift of the machine's load cancels
            order = ("off", "on", "off") if r % 2 == 0 else ("on", "off", "on")
            rate: dict[str, list[float]] = {"on": [], "off": []}
            block: dict[str, list[float]] = {"on": [], "off": []}
            for mode in order:
                if mode == "on":
                    engine.execute(LOAD, block=True)
                    time.sleep(1.0)  # its threads started, the first records through
                before, t_before = counting.take(), time.perf_counter()
                c0, m0, b0 = sum(controller.cpu_times()[:2]), sum(me.cpu_times()[:2]), machine_busy()
                engine.execute(LOOP.format(seconds=args.seconds), block=True)
                res = engine.pull("_res", block=True)
                ctl_cpu[mode] += sum(controller.cpu_times()[:2]) - c0
                own_cpu[mode] += sum(me.cpu_times()[:2]) - m0
                seg_busy = machine_busy() - b0
                busy[mode] += seg_busy
                seg_others = (seg_busy - sum(res["cpu"].values()) - (sum(controller.cpu_times()[:2]) - c0)
                              - (sum(me.cpu_times()[:2]) - m0)) / res["wall"]
                segments.append((mode == "on", res["steps_per_s"], max(0.0, seg_others)))
                rate[mode].append(res["steps_per_s"])
                if args.verbose:
                    print(f"  {mode}: {res['steps_per_s']:.0f} steps/s, blocks of 20 steps: first "
                          f"{res['first_ms']:.1f} ms, median {20e3 / res['block_steps_per_s']:.1f} ms, "
                          f"longest {res['max_ms']:.1f} ms", flush=True)
                block[mode].append(res["block_steps_per_s"])
                cpu[mode].update(res["cpu"])
                wall[mode] += res["wall"]
                steps[mode] += res["steps"]
                if mode == "on":
                    published.update(res["published"])
                    time.sleep(0.5)  # the last batch through the controller
                    got = counting.take() - before
                    kinds_on += got
                    rates.append(sum(got.values()) / (time.perf_counter() - t_before))
                    engine.execute(UNLOAD, block=True)
                    engine.execute("_left = _residue()", block=True)
                    residue = engine.pull("_left", block=True)
                    if residue:
                        print(f"round {r}: jaxinspect left {residue} running after %unload_ext", flush=True)
            off, on = statistics.fmean(rate["off"]), statistics.fmean(rate["on"])
            ratios.append(off / on)
            block_ratios.append(statistics.fmean(block["off"]) / statistics.fmean(block["on"]))
            loads = " ".join(f"{o:.2f}" for _m, _v, o in segments[-len(order):])
            print(f"round {r} ({'/'.join(order)}; other users' cores {loads}): "
                  f"off {' '.join(f'{v:.0f}' for v in rate['off'])} steps/s, "
                  f"on {' '.join(f'{v:.0f}' for v in rate['on'])} steps/s, ratio {ratios[-1]:.3f} "
                  f"(median block of 20 steps: {block_ratios[-1]:.3f})", flush=True)

        ratio = statistics.median(ratios)
        stacks = kinds_on.get("stack", 0)
        print(f"Flax training step on an ipyparallel engine, publishing / not: median ratio {ratio:.3f} "
              f"(min {min(ratios):.3f}, max {max(ratios):.3f}; target <= 1.03)")
        print(f"the same from each segment's median block of 20 steps (bursts of other load left out, and "
              f"with them jaxinspect's once-a-second work, which the CPU by thread below shows): median "
              f"{statistics.median(block_ratios):.3f} (min {min(block_ratios):.3f}, max {max(block_ratios):.3f})")
        adjusted = adjusted_ratio(segments)
        if adjusted is not None:
            print(f"adjusted for the other users' load (least squares over {len(segments)} segments: "
                  f"steps/s = a + b·their cores + c·publishing): {adjusted[0]:.3f} "
                  f"(±2 standard errors: {adjusted[1]:.3f} to {adjusted[2]:.3f})")
        print(f"records received by the notebook while training: {statistics.median(rates):.1f}/s "
              f"(median); by kind, all rounds: {dict(kinds_on.most_common())}")
        print(f"published on the engine while training, per second: "
              f"{ {k: round(v / wall['on'], 2) for k, v in published.most_common()} }")
        print(f"stack records during normal runs: {stacks} (stacks only when asked or stuck; asked once "
              f"before the rounds, {asked} arrived and were counted)")
        print(f"engine threads left after %unload_ext: {residue or 'none'}")
        print("engine CPU by thread while training: publishing | not (ms per second, µs per step)")
        for name in sorted(set(cpu["on"]) | set(cpu["off"]), key=lambda k: -(cpu["on"][k] + cpu["off"][k])):
            on, off = cpu["on"][name], cpu["off"][name]
            if on or off or name.startswith("jaxinspect"):
                print(f"  {name:30s} {on / wall['on'] * 1e3:7.1f} | {off / wall['off'] * 1e3:7.1f} ms/s   "
                      f"{on / steps['on'] * 1e6:7.1f} | {off / steps['off'] * 1e6:7.1f} µs/step")
        total = {m: sum(cpu[m].values()) for m in cpu}
        print(f"  {'all threads':30s} {total['on'] / wall['on'] * 1e3:7.1f} | {total['off'] / wall['off'] * 1e3:7.1f} "
              f"ms/s   {total['on'] / steps['on'] * 1e6:7.1f} | {total['off'] / steps['off'] * 1e6:7.1f} µs/step")
        for what, secs in (("controller process", ctl_cpu), ("this process (the notebook's end)", own_cpu)):
            print(f"{what} CPU: {secs['on'] / wall['on'] * 1e3:.1f} ms/s publishing | "
                  f"{secs['off'] / wall['off'] * 1e3:.1f} ms/s not")
        others = {m: busy[m] - total[m] - ctl_cpu[m] - own_cpu[m] for m in busy}
        print(f"the rest of the machine (other users) CPU: {others['on'] / wall['on'] * 1e3:.0f} ms/s while "
              f"publishing | {others['off'] / wall['off'] * 1e3:.0f} ms/s not (of {os.cpu_count()} cores)")
        row = next(iter(collector.processes()), {})
        print(f"the engine's row in the notebook at the end (after {args.rounds} rounds of %load_ext / "
              f"%unload_ext; 'done' when the last segment ran unloaded): state {row.get('state')!r}, "
              f"activity {row.get('activity')!r}")
        read_us, whole_us = liveness_cost()
        print(f"one liveness reading (Probe.read on a thread): {read_us:.0f} µs; with the record to "
              f"JSON and into the hub: {whole_us:.0f} µs, i.e. {whole_us / 1e4:.3f}% of a second at 1 Hz")
        record("18", "Flax step on an ipyparallel engine, publishing / not", round(ratio, 3), "≤ 1.03")
        if adjusted is not None:
            record("18", "the same, adjusted for other users' load on the machine", round(adjusted[0], 3), "≤ 1.03")
        record("18", "records received from the engine per second while training",
               round(statistics.median(rates), 1), "—", "/s")
        record("18", "stack records during a normal run", stacks, "0", " records")
        record("18", "one liveness reading (Probe.read)", round(read_us, 1), "—", " µs")
        record("18", "liveness thread, share of a second", round(whole_us / 1e4, 4), "—", "%")
    finally:
        _kill(pids)  # bounded: no shutdown request needs answering
        if collector is not None:
            try:
                collector.close()
            except Exception:  # noqa: BLE001
                pass
        if rc is not None:
            try:
                rc.close()
            except Exception:  # noqa: BLE001
                pass
        try:
            cluster.stop_cluster_sync()
        except Exception:  # noqa: BLE001
            pass


if __name__ == "__main__":
    main()
