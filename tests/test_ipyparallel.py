"""Many processes through ipyparallel, for real: a cluster of two engines on localhost runs a
``jax.distributed`` job with CPU collectives (gloo); the engines publish through the cluster's
own messaging (``%px %load_ext jaxinspect``), the notebook (this process) shows them by engine id
and JAX process index. One engine then skips a collective: the other is named stuck with its line,
its stack is taken, and ending the engines makes one ``done`` and the other ``lost``.

One cluster for the module (starting one costs ~10 s): the tests run in file order and the last
one leaves the job hung, then kills every process it started (bounded)."""

import os
import signal
import socket
import time

import pytest
from conftest import wait_for

ipp = pytest.importorskip("ipyparallel")

import jaxinspect  # noqa: E402
from jaxinspect.config import config  # noqa: E402
from jaxinspect.glue import extension  # noqa: E402

STUCK_AFTER = 3.0

SETUP = """
import jax
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.config.update("jax_num_cpu_devices", 1)
jax.distributed.initialize("127.0.0.1:{port}", num_processes=2, process_id={i})
"""

# the job's code (the same on both engines); line 4 waits for the other process
TRAIN = """steps = []
for i in range({steps}):
    if jax.process_index() == {skip_on} and i == {skip_at}: break
    s = float(total(x))
    jaxinspect.watch("x", x, step=i)
    steps.append(i)
"""

MODEL = """
import jax.numpy as jnp
import jaxinspect
from jax.sharding import NamedSharding, PartitionSpec as P
mesh = jax.make_mesh((2,), ("x",))
x = jax.make_array_from_process_local_data(NamedSharding(mesh, P("x")), jnp.arange(4.0) + jax.process_index())

@jax.jit
def total(a):
    return jnp.sum(a * 2.0)  # a collective across both processes
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (OSError, TypeError):
            pass


@pytest.fixture(scope="module")
def job():
    """Two engines in one jax.distributed job, jaxinspect loaded on both; killed at the end."""
    cluster = ipp.Cluster(n=2, log_level=40)
    rc = cluster.start_and_connect_sync()
    pids = []
    try:
        rc.wait_for_engines(2, timeout=120)
        pids = rc[:].apply_sync(os.getpid)
        port = _free_port()
        inits = [rc[i].execute(SETUP.format(port=port, i=i), block=False) for i in (0, 1)]
        for ar in inits:
            ar.get(timeout=120)
        rc[:].execute(MODEL, block=True)
        yield cluster, rc, pids
    finally:
        # bounded: the job may be hung in a collective, which no shutdown request ends
        _kill(pids)
        with pytest.MonkeyPatch.context():
            try:
                rc.close()
            except Exception:  # noqa: BLE001
                pass
            try:
                cluster.stop_cluster_sync()
            except Exception:  # noqa: BLE001
                pass


@pytest.fixture(scope="module")
def shell_and_collector(job):
    from IPython.core.interactiveshell import InteractiveShell

    _cluster, rc, _pids = job
    ip = InteractiveShell.instance()
    if "jaxinspect" in ip.extension_manager.loaded:
        ip.run_line_magic("unload_ext", "jaxinspect")
    ip.run_line_magic("load_ext", "jaxinspect")
    old = config.stuck_after_s
    config.stuck_after_s = STUCK_AFTER
    c = jaxinspect.collect_processes(rc)
    rc[:].execute(f"%load_ext jaxinspect\nimport jaxinspect\njaxinspect.config.stuck_after_s = {STUCK_AFTER}",
                  block=True)
    yield ip, c
    c.close()
    config.stuck_after_s = old
    if "jaxinspect" in ip.extension_manager.loaded:
        ip.run_line_magic("unload_ext", "jaxinspect")
    extension.unload(ip)


def _rows(c):
    return {r["engine_id"]: r for r in c.processes()}


def test_engines_publish_through_the_cluster_and_a_normal_run_is_never_stuck(job, shell_and_collector):
    _cluster, rc, pids = job
    ip, c = shell_and_collector
    assert c.transport == "ipyparallel" and c.env == {}  # no port, token or tunnel
    assert wait_for(lambda: len(c.processes()) == 2 and all(r["process_count"] == 2 for r in c.processes()),
                    timeout=30), c.processes()
    rows = _rows(c)
    assert {e: (r["process_index"], r["label"], r["transport"]) for e, r in rows.items()} == {
        0: (0, "engine 0 · p0", "ipyparallel"), 1: (1, "engine 1 · p1", "ipyparallel")}
    assert sorted(r["pid"] for r in rows.values()) == sorted(pids)

    # a normal run: every reading while it runs says no process is stuck
    ar = rc[:].execute(TRAIN.format(steps=40, skip_on=-1, skip_at=0), block=False)
    seen = set()
    while not ar.ready():
        snap = c.snapshot()
        assert not snap["stuck"] and snap["diagnosis"] is None, snap["diagnosis"]
        seen |= {r["activity"] for r in snap["processes"]}
        time.sleep(0.2)
    ar.get(timeout=60)
    assert rc[:].pull("steps", block=True) == [list(range(40))] * 2
    assert "stuck" not in seen, seen
    # the Client keeps each request's published data for good (AsyncResult.data): jaxinspect's
    # batches are taken out of it, so they neither pile up nor show among the user's results
    def kept():  # (the Client's metadata also holds a stray top-level 'submitted' time)
        return [md["data"] for md in list(rc.metadata.values()) if isinstance(md, dict) and "jaxinspect" in md.get("data", ())]

    assert wait_for(lambda: not kept(), timeout=10), kept()
    assert all("jaxinspect" not in d for d in ar.data), ar.data
    # progress as far as it is seen: the last step given to watch(), the compile, then idle
    assert wait_for(lambda: all(r["last_step_text"].startswith("step 39 ·") and r["activity"] == "idle"
                                for r in c.processes()), timeout=15), c.processes()
    assert all(r["last_compile_text"].startswith("total ·") for r in c.processes())
    assert all(r["compiles"] >= 1 for r in c.processes())
    # the sidebar and the monitor get the same table through the loaded extension's hub
    hub = extension.current().hub
    assert wait_for(lambda: any(r["kind"] == "processes" for r in hub.recent("processes", 2)), timeout=10)
    text = repr(c)
    assert "engine 0 · p0" in text and "engine 1 · p1" in text and "Stuck" not in text
    # unloaded, the engine is done; loaded again, it is back (and can be asked for its stack)
    rc[1].execute("%unload_ext jaxinspect", block=True)
    assert wait_for(lambda: _rows(c)[1]["state"] == "done", timeout=15), _rows(c)[1]
    rc[1].execute(f"%load_ext jaxinspect\njaxinspect.config.stuck_after_s = {STUCK_AFTER}", block=True)
    assert wait_for(lambda: _rows(c)[1]["state"] == "connected", timeout=15), _rows(c)[1]
    assert c.stacks(timeout=10).asked == {0, 1}


HUNG_IN_PYTHON = """import time
for i in range(3):
    if jax.process_index() == 1 and i == 1:
        time.sleep(3600)  # a data loader that never returns
    s = float(total(x))
"""


def test_an_engine_hung_in_python_and_the_one_waiting_for_it_are_both_named(job, shell_and_collector):
    _cluster, rc, _pids = job
    _ip, c = shell_and_collector
    ars = {i: rc[i].execute(HUNG_IN_PYTHON, block=False) for i in (0, 1)}
    assert wait_for(lambda: len(c.snapshot()["stuck"]) == 2, timeout=20), c.snapshot()["processes"]
    rows = _rows(c)
    assert rows[1]["where"]["code"] == "time.sleep(3600)  # a data loader that never returns"
    assert rows[0]["where"]["code"] == "s = float(total(x))"
    diagnosis = c.snapshot()["diagnosis"]
    assert "engine 0 · p0 has waited" in diagnosis and "engine 1 · p1 has waited" in diagnosis
    assert rows[1]["where"]["text"] in diagnosis and rows[0]["where"]["text"] in diagnosis
    # release it: interrupt the sleep (through engine 1's nanny), then let engine 1 join the two
    # collectives engine 0 waits in; nothing is stuck any more
    rc.send_signal("SIGINT", targets=[1], block=True)
    with pytest.raises(Exception, match="KeyboardInterrupt"):
        ars[1].get(timeout=30)
    rc[1].execute("s = float(total(x)); s = float(total(x))", block=True)
    ars[0].get(timeout=30)
    assert wait_for(lambda: not c.snapshot()["stuck"], timeout=10), c.snapshot()["diagnosis"]


def test_a_skipped_collective_names_the_stuck_engine_and_its_line(job, shell_and_collector):
    _cluster, rc, pids = job
    ip, c = shell_and_collector
    # engine 1 leaves the loop at step 3; engine 0 waits in step 3's collective for ever
    code = TRAIN.format(steps=6, skip_on=1, skip_at=3)
    ars = {i: rc[i].execute(code, block=False) for i in (0, 1)}
    ars[1].get(timeout=60)
    left = time.monotonic()
    assert wait_for(lambda: c.snapshot()["stuck"], timeout=15), c.snapshot()["processes"]
    took = time.monotonic() - left
    assert took < 10, took  # named within 10 s of the hang
    snap = c.snapshot()
    stuck = [r for r in snap["processes"] if r["stuck"]]
    assert [r["label"] for r in stuck] == ["engine 0 · p0"], snap["diagnosis"]
    row = stuck[0]
    assert row["where"]["line"] == 4 and row["where"]["code"] == "s = float(total(x))", row["where"]
    assert row["where"]["text"].startswith("cell [") and row["where"]["text"].endswith("line 4")
    diagnosis = snap["diagnosis"]
    assert diagnosis.startswith("engine 0 · p0 has waited ") and row["where"]["text"] in diagnosis
    assert "engine 1 · p1 idle, last step 2" in diagnosis, diagnosis
    # its stack was taken when it looked stuck (by its own reading, a second or so later),
    # with the line's code, past JAX's frames
    assert wait_for(lambda: _rows(c)[0]["stack_reason"] == "waiting", timeout=5), _rows(c)[0]
    row = _rows(c)[0]
    assert "s = float(total(x))" in row["stack"] and "outer frames (the kernel" in row["stack"], row["stack"]
    assert not ars[0].ready()  # really still waiting
    # on demand: both stacks, through the engines' nannies, while engine 0 is blocked
    stacks = c.stacks(timeout=10)
    assert stacks.asked == {0, 1}, stacks.problems
    text = repr(stacks)
    assert "engine 0 · p0: stuck" in text and "engine 1 · p1: idle" in text, text
    assert text.index("engine 0 · p0: stuck") < text.index("engine 1 · p1: idle"), text
    assert text.count("taken just now, when asked") == 2, text
    assert "s = float(total(x))" in text
    html = stacks._repr_mimebundle_()["text/html"]
    assert "engine 0 · p0" in html and "<script" not in html
    # the magic says the same
    out = ip.run_line_magic("jaxinspect", "processes --stacks")
    assert "engine 0 · p0: stuck" in repr(out)

    # ending: engine 1 shuts down cleanly (done, its goodbye goes before jax.distributed's
    # exit barrier), engine 0 is killed (lost)
    rc.shutdown(targets=[1], block=False)
    assert wait_for(lambda: _rows(c)[1]["state"] == "done", timeout=30), _rows(c)[1]
    pid0 = _rows(c)[0]["pid"]
    os.kill(pid0, signal.SIGKILL)
    assert wait_for(lambda: _rows(c)[0]["state"] == "lost", timeout=30), _rows(c)[0]
    rows = _rows(c)
    assert rows[0]["activity"] == "lost" and rows[1]["activity"] == "done"
    assert "1 done · 1 lost" in c.snapshot()["summary"]
    assert not c.snapshot()["stuck"]  # a lost process is no longer "stuck"
