"""Liveness without a cluster: where a thread is, whether it waits (never woken) or runs, the
stack taken once per stall or when the doorbell rings, and the collector's table turning readings
into "stuck", "silent", "done", "lost" and one sentence naming the stuck process."""

import contextlib
import os
import threading
import time

import pytest

from jaxinspect.collect import stacklib
from jaxinspect.config import config
from jaxinspect.live.processtable import SILENT_AFTER, ProcessTable


@pytest.fixture
def stuck_after():
    old = config.stuck_after_s
    config.stuck_after_s = 1.0
    yield 1.0
    config.stuck_after_s = old


def _blocked(event):
    event.wait()  # the line a stuck reading must name


def _busy(stop):
    while not stop.is_set():
        time.sleep(0.01)  # woken a hundred times a second: progress


@contextlib.contextmanager
def _blocked_and_read():
    """A thread blocked for good, its probe, and four readings 0.8 s apart."""
    event = threading.Event()
    worker = threading.Thread(target=_blocked, args=(event,), name="trainer")
    worker.start()
    try:
        time.sleep(0.2)
        probe = stacklib.Probe(thread=worker)
        readings = []
        for _ in range(4):
            readings.append(probe.read())
            time.sleep(0.8)
        yield probe, readings
    finally:
        event.set()
        worker.join()


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="context switches come from /proc")
def test_a_thread_blocked_for_good_is_waiting_and_its_stack_is_taken_once(stuck_after):
    with _blocked_and_read() as (probe, readings):
        live, stack = readings[-1]
        assert live.activity == "waiting" and live.still_s >= 2.0, live
        assert live.function == "_blocked" and live.where.code == "event.wait()  # the line a stuck reading must name"
        assert live.inner.startswith("python3.") and "threading.py" in live.inner  # Event.wait's frame
        stacks = [s for _, s in readings if s is not None]
        assert len(stacks) == 1 and stacks[0].reason == "waiting", stacks  # once per stall
        assert "in _blocked" in stacks[0].text and "event.wait()" in stacks[0].text
        assert stacks[0].frames[-1].function == "wait" and not stacks[0].frames[-1].user
        # asked: a stack now, the stall goes on (the doorbell's wake-up is not progress)
        live2, asked = probe.read(asked=True)
        assert asked.reason == "asked" and live2.activity == "waiting" and live2.still_s > live.still_s


def test_a_thread_that_keeps_being_woken_is_never_waiting(stuck_after):
    stop = threading.Event()
    worker = threading.Thread(target=_busy, args=(stop,))
    worker.start()
    try:
        probe = stacklib.Probe(thread=worker)
        readings = []
        for _ in range(5):
            readings.append(probe.read())
            time.sleep(0.6)
        assert all(r.activity == "running" for r, _ in readings), [r.activity for r, _ in readings]
        assert all(s is None for _, s in readings)
    finally:
        stop.set()
        worker.join()


def test_a_long_step_on_the_cpu_backend_is_running_not_waiting(stuck_after):
    """A step of several seconds on the CPU backend: the main thread waits at one line for the
    result, but XLA's threads are computing it, so the process is never called waiting (it
    read stuck after config.stuck_after_s). A hang, with nothing computing, still is (above)."""
    import functools

    import jax
    import jax.numpy as jnp

    assert jax.default_backend() == "cpu"

    @functools.partial(jax.jit, static_argnums=2)
    def long_step(x, w, n):
        return jax.lax.fori_loop(0, n, lambda i, x: jnp.tanh(x @ w), x)

    x, w = jnp.ones((600, 600)) / 600, jnp.eye(600)
    long_step(x, w, 20).block_until_ready()
    t = time.perf_counter()
    long_step(x, w, 20).block_until_ready()
    n = max(20, int(20 * 4.0 / (time.perf_counter() - t)))  # about 4 s, whatever the machine
    long_step(x, w, n)  # compiled before it is timed
    done = threading.Event()

    def train():
        float(long_step(x, w, n).sum())  # the line the main thread waits at
        done.set()

    worker = threading.Thread(target=train, name="trainer")
    started = time.perf_counter()
    worker.start()
    try:
        probe = stacklib.Probe(thread=worker)
        readings = []
        while not done.wait(0.5):
            readings.append(probe.read()[0])
        took = time.perf_counter() - started
    finally:
        worker.join()
    assert took > 2 * stacklib.WAITING_AFTER_S, took  # long enough to have read "waiting"
    assert readings and all(r.activity == "running" for r in readings), [(r.activity, r.still_s) for r in readings]


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="context switches come from /proc")
def test_a_stack_asked_just_after_a_reading_keeps_a_blocked_thread_waiting(stuck_after):
    """The doorbell brings a reading a few ms after the last one: a few ms of another thread's
    work there must not read as XLA computing (it turned a stuck engine into 'running' in CI,
    whenever its publisher had just worked)."""
    import jax

    jax.devices()  # the CPU backend is up: the rule for long CPU steps applies
    with _blocked_and_read() as (probe, _readings):
        live, _stack = probe.read()
        assert live.activity == "waiting", live
        end = time.process_time() + 0.03  # another thread's short burst of work, then the bell
        while time.process_time() < end:
            pass
        asked, stack = probe.read(asked=True)
        assert asked.activity == "waiting" and asked.still_s > live.still_s, asked
        assert stack is not None and stack.reason == "asked"


def test_the_doorbell_rings_from_a_signal():
    bell = stacklib.Doorbell()
    try:
        if bell.signum is None:
            pytest.skip("no faulthandler.register here")
        assert bell.name == "SIGURG"
        assert bell.wait(0.05) is False
        os.kill(os.getpid(), bell.signum)
        assert bell.wait(2.0) is True
        assert bell.wait(0.05) is False  # drained
    finally:
        bell.close()


def _process(table, pid, index, engine=None, state="connected", seen=None):
    table.add({"kind": "process", "id": pid, "process_index": index, "process_count": 2, "host": "h",
               "pid": 100 + pid, "state": state, "last_seen": seen or time.time(), "engine_id": engine,
               "transport": "ipyparallel" if engine is not None else "loopback",
               "label": f"engine {engine} · p{index}" if engine is not None else f"p{index}"})


def _live(table, pid, index, activity, still, line=7, step=None, t=None, inner=None):
    table.add({"kind": "remote", "source": pid, "process_index": index, "record": {
        "kind": "liveness", "seq": 1, "time": t or time.time(), "busy": activity != "idle",
        "activity": activity, "still_s": still, "cpu_s": 0.0, "function": "step",
        "where": {"cell": 3, "line": line, "code": "<b>y</b> = psum(x)", "path": None,
                  "text": f"cell [3] line {line}"},
        "inner": inner, "last_step": step, "last_step_time": time.time(), "last_compile": None,
        "last_compile_time": None, "stuck_after_s": 1.0}})


def test_the_table_names_the_stuck_process_and_what_the_others_do(stuck_after):
    table = ProcessTable()
    _process(table, 0, 0, engine=0)
    _process(table, 1, 1, engine=1)
    _live(table, 0, 0, "waiting", 14.0)
    _live(table, 1, 1, "idle", 0.0, step=4)
    stuck, text = table.diagnosis()
    assert stuck == (0,)
    assert text.startswith("engine 0 · p0 has waited 14 s at engine cell [3] line 7 (step)"), text
    assert "Not there: engine 1 · p1 idle, last step 4" in text
    rec = table.record()
    facts = {f.id: f for f in rec.processes}
    assert facts[0].stuck and facts[0].activity == "stuck" and facts[0].activity_text.startswith("stuck 14 s")
    assert facts[1].activity == "idle" and facts[1].last_step_text.startswith("step 4 ·")
    assert rec.diagnosis == text and rec.stuck == (0,)
    # what it waits for, in plain words, where the innermost call is one we know
    for inner, words in (
        ("jax/_src/array.py:696 (_value)", " for a device result (a step or a collective in it), inside jax/_src/array.py:696 (_value)."),
        ("jax/_src/distributed.py:301 (wait_at_barrier)", " for the other processes (a jax.distributed call), inside "),
        ("python3.12/queue.py:171 (get)", " for a queue, inside python3.12/queue.py:171 (get)."),
        ("jax/_src/api.py:3090 (jit)", "(step), inside jax/_src/api.py:3090 (jit)."),  # not a wait we know: no words
    ):
        _live(table, 0, 0, "waiting", 14.0, inner=inner)
        assert words in table.diagnosis()[1], (inner, table.diagnosis()[1])
    assert "1 stuck" in table.summary()
    # waiting below the threshold is not stuck; a running process never is
    _live(table, 0, 0, "waiting", 0.5)
    assert table.diagnosis() == ((), None)


def test_all_processes_waiting_at_one_line_is_said_as_such(stuck_after):
    table = ProcessTable()
    for i in (0, 1):
        _process(table, i, i)
        _live(table, i, i, "waiting", 30.0)
    stuck, text = table.diagnosis()
    assert stuck == (0, 1) and text.startswith("all 2 processes have waited at least 30 s at cell [3] line 7 (step)")


def test_silent_done_and_lost(stuck_after):
    table = ProcessTable()
    _process(table, 0, 0)
    _live(table, 0, 0, "waiting", 30.0)
    proc = table._procs[0]
    proc.liveness_at = time.time() - SILENT_AFTER - 1  # nothing heard since
    facts = table.record().processes[0]
    assert facts.activity == "silent" and not facts.stuck and "no word from its jaxinspect thread" in facts.activity_text
    _process(table, 0, 0, state="done")
    assert table.record().processes[0].activity == "done"
    _process(table, 0, 0, state="lost", seen=time.time() - 5)
    facts = table.record().processes[0]
    assert facts.activity == "lost" and facts.activity_text == "lost"  # its age: the state line
    assert table.diagnosis() == ((), None)


def test_the_views_escape_kernel_text_and_show_the_stuck_process(stuck_after):
    from jaxinspect.render import processview

    table = ProcessTable()
    _process(table, 0, 0, engine=0)
    _process(table, 1, 1, engine=1)
    _live(table, 0, 0, "waiting", 14.0)
    _live(table, 1, 1, "running", 0.0, line=9)
    snap = table.snapshot()
    html = processview.html(snap)
    assert "&lt;b&gt;y&lt;/b&gt; = psum(x)" in html and "<b>y</b>" not in html
    text = processview.text(snap)
    assert "Stuck: engine 0 · p0 has waited 14 s" in text and "running at engine cell [3] line 9 (step)" in text
    assert "⚠ stuck 14 s" in text  # the side-by-side row marks it


def test_the_monitor_marks_the_stuck_engine_and_says_why(stuck_after):
    from jaxinspect.live.monitorstate import MonitorState
    from jaxinspect.render import monitorview

    table = ProcessTable()  # only to build the records the monitor folds itself
    recs = []
    table.add = lambda r, _add=table.add: (recs.append(r), _add(r))[1]
    _process(table, 0, 0, engine=0)
    _process(table, 1, 1, engine=1)
    _live(table, 0, 0, "waiting", 14.0)
    _live(table, 1, 1, "idle", 0.0, step=4)
    state, delta = MonitorState(), {}
    state.apply(recs, delta)
    rows = {r["label"]: r for r in delta["processes"]["rows"]}
    assert rows["engine 0 · p0"]["stuck"] and rows["engine 0 · p0"]["activity_text"].startswith("stuck 14 s")
    assert rows["engine 1 · p1"]["activity"] == "idle"
    assert delta["processes"]["diagnosis"].startswith("engine 0 · p0 has waited 14 s")
    text = monitorview.summary_text(state.snapshot())
    assert "Stuck: engine 0 · p0 has waited" in text


HANGING = '''
import threading, jaxinspect
jaxinspect.config.stuck_after_s = 1.0
conn = jaxinspect.connect()
print("connected", flush=True)
gate = threading.Event()
gate.wait()  # never set: the script's main thread waits here for good
'''


def test_a_loopback_process_is_named_stuck_its_stack_is_asked_for_and_a_kill_makes_it_lost(tmp_path, stuck_after):
    import subprocess
    import sys

    from conftest import wait_for

    import jaxinspect

    script = tmp_path / "hang.py"
    script.write_text(HANGING)
    c = jaxinspect.collect_processes()
    proc = subprocess.Popen([sys.executable, str(script)], env={**os.environ, **c.env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: c.snapshot()["stuck"], timeout=60), c.processes()
        row = c.processes()[0]
        assert row["label"] == "p0" and row["where"]["code"].startswith("gate.wait()")
        assert row["where"]["path"] == str(script) and row["where"]["line"] == 7
        assert c.snapshot()["diagnosis"].startswith("p0 has waited ") and "hang.py:7 for another thread (a lock, an event or a join), inside " in c.snapshot()["diagnosis"]
        assert wait_for(lambda: c.processes()[0]["stack_reason"] == "waiting", timeout=10)
        stacks = c.stacks(timeout=10)  # the doorbell: a signal to a process on this host
        assert stacks.asked == {row["id"]}, stacks.problems
        assert "taken just now, when asked" in repr(stacks) and "gate.wait()" in repr(stacks)
        # the sidebar's "Ask for stacks" button: the same, through the RPC (stacks then come
        # with the next processes record)
        from jaxinspect.glue import processes

        time.sleep(1.5)
        assert c.processes()[0]["stack_age_s"] >= 1
        assert processes.stacks_rpc({"timeout_s": 10}) == {"asked": [row["id"]], "answered": [row["id"]], "problems": []}
        assert c.processes()[0]["stack_age_s"] < 1 and c.processes()[0]["stack_reason"] == "asked"
        with pytest.raises(ValueError, match="timeout_s takes 0 to 60 seconds, got -1"):
            processes.stacks_rpc({"timeout_s": -1})
        proc.kill()
        assert wait_for(lambda: c.processes()[0]["state"] == "lost", timeout=30)
        assert c.processes()[0]["activity"] == "lost" and not c.snapshot()["stuck"]
    finally:
        proc.kill()
        proc.wait(timeout=30)
        c.close()
    from jaxinspect.glue import processes

    assert processes.stacks_rpc({})["problems"][0].startswith("no collector is open in this kernel")


def _one_slow_step():
    threading.Event().wait(0.7)  # a step that waits for its result: a new call every time


def _slow_steps(stop):
    while not stop.is_set():
        _one_slow_step()


def test_a_loop_of_slow_steps_is_never_waiting_though_each_reading_finds_it_at_the_same_line(stuck_after):
    stop = threading.Event()
    worker = threading.Thread(target=_slow_steps, args=(stop,))
    worker.start()
    try:
        probe = stacklib.Probe(thread=worker)
        readings = []
        for _ in range(7):
            readings.append(probe.read()[0])
            time.sleep(0.6)
        assert {r.where.line for r in readings} == {readings[0].where.line}  # always the same line
        assert all(r.activity == "running" and r.still_s < 2.0 for r in readings), [(r.activity, r.still_s) for r in readings]
    finally:
        stop.set()
        worker.join()


def test_the_report_holds_the_processes_with_the_stuck_one_and_its_stack(tmp_path, stuck_after):
    import jaxinspect

    c = jaxinspect.collect_processes()
    try:
        _process(c.table, 0, 0, engine=0)
        _process(c.table, 1, 1, engine=1)
        _live(c.table, 0, 0, "waiting", 14.0)
        _live(c.table, 1, 1, "idle", 0.0, step=4)
        c.table.add({"kind": "remote", "source": 0, "process_index": 0, "record": {
            "kind": "stack", "seq": 1, "time": time.time(), "reason": "waiting", "thread": "MainThread",
            "frames": [], "more": 0, "where": None, "function": None, "still_s": 14.0,
            "text": "MainThread (most recent call last):\n  cell [3] line 7, in <module>\n    <b>y</b> = psum(x)"}})
        jaxinspect.report(str(tmp_path / "r.html"))
        jaxinspect.report(str(tmp_path / "r.txt"))
        text = (tmp_path / "r.txt").read_text()
        assert "Stuck: engine 0 · p0 has waited" in text and "engine 1 · p1 idle, last step 4" in text
        assert "<b>y</b> = psum(x)" in text  # the stack, verbatim in text
        html = (tmp_path / "r.html").read_text()
        assert "&lt;b&gt;y&lt;/b&gt; = psum(x)" in html and "<b>y</b>" not in html
        assert "each stack is the newest that process sent" in text
    finally:
        c.close()


def test_stacks_refuses_a_bad_timeout_in_one_line():
    import jaxinspect

    c = jaxinspect.collect_processes()
    try:
        for bad in ("x", -1, True, None):
            out = c.stacks(timeout=bad)
            assert out.level == "error" and "\n" not in repr(out) and "timeout" in repr(out)
        assert "No process is publishing" in repr(c.stacks(timeout=0))
    finally:
        c.close()


def test_an_alert_updated_with_its_cause_is_one_alert_named_by_the_process_label():
    """nan_guard re-sends its alert with the replay's cause under the same id: the table keeps
    the newest version (the sidebar does too), counts it once, and names the process as the
    columns do ("engine 1 · p1", not "p1")."""
    from jaxinspect.render import processview

    table = ProcessTable()
    _process(table, 0, 0, engine=0)
    _process(table, 1, 1, engine=1)

    def alert(pid, index, rid, message):
        table.add({"kind": "remote", "source": pid, "process_index": index, "record": {
            "kind": "params_alert", "id": rid, "message": message}})

    alert(1, 1, 0, "step inputs: first NaN at call 6")
    alert(0, 0, 0, "step inputs: first NaN at call 6")
    alert(1, 1, 0, "step inputs: first NaN at call 6. Cause: call 5 was not replayed")
    alert(1, 1, 1, "params: first NaN at step 5")
    snap = table.snapshot()
    assert [(a["label"], a["message"]) for a in snap["alerts"]] == [
        ("engine 0 · p0", "step inputs: first NaN at call 6"),
        ("engine 1 · p1", "step inputs: first NaN at call 6. Cause: call 5 was not replayed"),
        ("engine 1 · p1", "params: first NaN at step 5"),
    ]
    assert {r["label"]: r["alerts"] for r in snap["processes"]} == {"engine 0 · p0": 1, "engine 1 · p1": 2}
    text = processview.text(snap)
    assert "engine 1 · p1: step inputs: first NaN at call 6. Cause" in text and "\n  p1:" not in text, text
    assert text.count("first NaN at call 6") == 2, text
