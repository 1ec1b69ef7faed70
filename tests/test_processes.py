"""Many processes, one notebook: a real two-process ``jax.distributed`` job (CPU, gloo
collectives) publishing to this kernel's collector, plus the collector's bounds, refusals and
failure modes."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import wait_for

import jaxinspect
from jaxinspect.glue import processes
from jaxinspect.live import remote
from jaxinspect.live.hub import Hub
from jaxinspect.live.processtable import ProcessTable
from jaxinspect.render import processview

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORKER = textwrap.dedent(
    """
    import sys, time
    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    pid, port = int(sys.argv[1]), sys.argv[2]
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=pid)
    import jaxinspect
    conn = jaxinspect.connect()          # address and token from the environment
    import jax.numpy as jnp
    from jax.sharding import NamedSharding, PartitionSpec as P

    mesh = jax.make_mesh((2,), ("x",))
    x = jax.make_array_from_process_local_data(NamedSharding(mesh, P("x")), jnp.arange(4.0) + pid)

    @jax.jit
    def total(a):
        return jnp.sum(a * 2.0)      # a collective across both processes

    print("total", float(total(x)), flush=True)

    @jax.jit
    def local_step(v):
        return v * 3 + 1

    local_step(jnp.ones((8,)))
    if pid == 1:                      # only process 1 recompiles: the classic divergence
        local_step(jnp.ones((16,)))
    keep = jnp.ones((1024, 256))      # 1 MiB held by `keep`
    keep.block_until_ready()
    time.sleep(1.5)                   # a sampler tick sees it
    print("status", conn.status()["state"], flush=True)
    """
)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def collector():
    c = jaxinspect.collect_processes()
    yield c
    c.close()


def test_two_jax_distributed_processes_side_by_side(tmp_path, collector, ip):
    ip.run_line_magic("load_ext", "jaxinspect")
    from jaxinspect.glue import extension

    hub = extension.current().hub
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    port = str(_free_port())
    env = {**os.environ, **collector.env, "PYTHONPATH": ROOT}
    env.pop("XLA_FLAGS", None)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(i), port],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=False):
        assert p.returncode == 0, err[-3000:]
        assert "total 32.0" in out and "status connected" in out, (out, err[-2000:])
        assert "jaxinspect" not in err, err  # nothing to complain about
    assert collector.wait(2, timeout=20, ended=True)

    rows = collector.processes()
    assert [r["process_index"] for r in rows] == [0, 1]
    assert all(r["state"] == "done" for r in rows), rows  # goodbye sent at exit
    assert all(r["process_count"] == 2 and r["backend"] == "cpu" for r in rows)
    assert all(len(r["devices"]) == 1 for r in rows)
    assert len({r["pid"] for r in rows}) == 2
    assert all(r["bytes"] is not None and r["bytes"] >= 1 << 20 for r in rows), rows
    assert all(r["dropped"] == 0 for r in rows)
    assert "local_step" in rows[1]["last_recompile"] and "16" in rows[1]["last_recompile"]

    snap = collector.snapshot()
    funcs = {f["name"]: f for f in snap["functions"]}
    ids = [r["id"] for r in rows]
    assert [funcs["local_step"]["counts"].get(i) for i in ids] == [1, 2]
    assert funcs["local_step"]["differs"] is True
    assert [funcs["total"]["counts"].get(i) for i in ids] == [1, 1]
    assert funcs["total"]["differs"] is False
    assert snap["functions"][0]["name"] == "local_step"  # a divergence sorts first

    # the same records reached the kernel's hub (the sidebar's and the monitor's source),
    # wrapped with their process, never mixed into this kernel's own compiles
    remote_recs = hub.recent("remote")
    inner = [r["record"] for r in remote_recs]
    compiles = [(r["process_index"], r["record"]["fun_name"]) for r in remote_recs
                if r["record"]["kind"] == "compile" and not r["record"]["internal"]]
    assert (0, "total") in compiles and (1, "total") in compiles
    assert sorted(c for c in compiles if c[1] == "local_step") == [(0, "local_step"), (1, "local_step"), (1, "local_step")]
    assert all(r["process_index"] == r["record"]["process_index"]
               for r in remote_recs if r["record"]["kind"] == "compile")
    holders = {o["name"] for r in inner if r["kind"] == "buffers" for o in r["owners"]}
    assert "keep" in holders
    assert not [r for r in hub.recent("compile") if r["fun_name"] == "local_step"]
    states = {r["id"]: r["state"] for r in hub.recent("process")}
    assert set(states.values()) == {"done"}

    text = repr(collector)
    assert "Processes: 2 processes · 2 done" in text
    assert "≠ local_step" in text and "p0" in text and "p1" in text
    html = collector._repr_mimebundle_()["text/html"]
    assert "≠ local_step" in html


def test_refusals_say_what_to_do(collector):
    said = []
    bad = remote.Forwarder(Hub(), collector.address, "not-the-token", dict, say=said.append)
    assert wait_for(lambda: bad.status()["state"] == "refused")
    assert "wrong collector token" in said[0] and remote.ENV_TOKEN in said[0]
    bad.close()
    with pytest.raises(remote.AddressError, match="ssh -N -R 4000:127.0.0.1:4000"):
        remote.parse_address("10.1.2.3:4000")
    with pytest.raises(remote.AddressError, match="not HOST:PORT"):
        remote.parse_address("localhost")
    # connect() never raises: the message is said once and the job runs on
    conn = processes.connect("example.com:4000")
    assert conn.forwarder is None and "loopback" in repr(conn)
    old = os.environ.pop(remote.ENV_ADDRESS, None)
    try:
        conn = processes.connect()
        assert "collect_processes" in repr(conn)
    finally:
        if old is not None:
            os.environ[remote.ENV_ADDRESS] = old
    assert collector.processes() == []  # none of these got in


def test_wire_bounds_and_lost_processes(collector, monkeypatch):
    # a peer that speaks garbage, a peer that sends an oversized line, a peer that vanishes
    def hello(s, pid):
        s.sendall(remote._encode({"v": remote.WIRE_VERSION, "type": "hello", "token": collector.token,
                                  "process_index": pid, "host": "h", "pid": 1000 + pid}))
        return json.loads(s.makefile("rb").readline())

    host, port = remote.parse_address(collector.address)
    with socket.create_connection((host, port)) as s:
        s.sendall(b"this is not json\n")
    with socket.create_connection((host, port)) as s:
        assert hello(s, 0)["type"] == "welcome"
        s.sendall(b'{"type":"batch","records":[{"kind":"status","busy":true,"seq":1}]}\n')
        # then it dies without a goodbye
    monkeypatch.setattr(remote, "MAX_LINE", 1000)
    with socket.create_connection((host, port)) as s:
        assert hello(s, 1)["type"] == "welcome"
        s.sendall(b'{"type":"batch","records":[' + b'"x",' * 2000 + b'"x"]}\n')
        s.makefile("rb").read()  # the collector hangs up
    assert collector.wait(2, timeout=5, ended=True)
    rows = {r["process_index"]: r for r in collector.processes()}
    assert rows[0]["state"] == "lost" and rows[0]["busy"] is True
    assert rows[1]["state"] == "lost" and "over" in rows[1]["note"]
    assert "lost" in repr(collector)


def test_forwarder_survives_a_collector_that_comes_and_goes():
    """The job must never notice: sends fail, batches are bounded and counted, reconnects."""
    hub = Hub(max_rate=1000)
    said = []
    port = _free_port()
    fwd = remote.Forwarder(hub, f"127.0.0.1:{port}", "t", lambda: {"host": "h", "pid": 7},
                           say=said.append, retry_s=0.05)
    for i in range(remote.QUEUE + 50):
        hub.publish({"kind": "status", "seq": i})
        hub.flush()
    assert wait_for(lambda: fwd.status()["dropped"] >= 50 and said)
    time.sleep(0.3)  # several retries
    assert len(said) == 1 and "cannot reach the collector" in said[0]  # said once, not per retry
    c = processes.ProcessCollector(port=port, token="t")
    try:
        assert c.wait(1, timeout=10)
        hub.publish({"kind": "status", "seq": 10**6, "busy": False})
        hub.flush()
        assert wait_for(lambda: any(r["records"] >= remote.QUEUE for r in c.processes()), 10)
        fwd.close()
        assert c.wait(1, timeout=5, ended=True)
        row = c.processes()[0]
        assert row["state"] == "done" and row["dropped"] >= 50
    finally:
        c.close()
        hub.close()


def test_table_and_views_are_bounded_and_escaped():
    table = ProcessTable()
    hostile = '<img src=x onerror="alert(1)">'
    for pid in range(12):
        table.add({"kind": "process", "id": pid + 1, "process_index": pid, "host": hostile,
                   "pid": pid, "state": "connected", "devices": ["cpu:0"]})
        for f in range(80):
            table.add({"kind": "remote", "source": pid + 1, "process_index": pid, "record": {
                "kind": "compile_stats", "fun_key": f"k{f}", "fun_name": f"{hostile}{f}",
                "compiles": 1 + (pid == 3), "total_s": 0.01, "last_reasons": [], "internal": False}})
        table.add({"kind": "remote", "source": pid + 1, "process_index": pid,
                   "record": {"kind": "compile_alert", "message": hostile}})
    table.add({"kind": "remote", "source": "nonsense", "record": None})  # ignored
    snap = table.snapshot()
    assert len(snap["functions"]) == 50 and snap["more_functions"] == 30
    assert all(f["differs"] for f in snap["functions"])  # process 3 compiled each twice
    text = processview.text(snap, "127.0.0.1:1")
    assert "… 4 more processes" in text and "… 30 more functions" in text
    assert "… 2 more alerts" in text
    html = processview.html(snap, "127.0.0.1:1")
    assert "<img" not in html and "&lt;img" in html
    assert len(html) < 200_000 and len(text) < 50_000


def test_unload_closes_the_collector(ip):
    ip.run_line_magic("load_ext", "jaxinspect")
    c = jaxinspect.collect_processes()
    assert jaxinspect.collect_processes() is c  # one per kernel
    ip.run_line_magic("unload_ext", "jaxinspect")
    assert not c.running and processes.current_collector() is None
    with pytest.raises(OSError):
        socket.create_connection(remote.parse_address(c.address), timeout=1).close()


def test_the_monitor_shows_processes_side_by_side():
    from jaxinspect.live.monitorstate import MonitorState
    from jaxinspect.render import monitorview

    state, delta = MonitorState(), {}
    recs = []
    for pid in (1, 2):
        recs.append({"kind": "process", "id": pid, "process_index": pid - 1, "host": "h",
                     "pid": 100 + pid, "state": "connected"})
        recs.append({"kind": "remote", "source": pid, "process_index": pid - 1, "record": {
            "kind": "compile_stats", "fun_key": "k", "fun_name": "step", "compiles": pid,
            "total_s": 0.1, "last_reasons": [], "internal": False}})
        recs.append({"kind": "remote", "source": pid, "process_index": pid - 1, "record": {
            "kind": "buffers", "seq": 1, "arrays": 3, "bytes": 4096 * pid, "devices": [], "owners": []}})
    state.apply(recs, delta)
    rows = delta["processes"]["rows"]
    assert [(r["process_index"], r["compiles"], r["bytes"]) for r in rows] == [(0, 1, 4096), (1, 2, 8192)]
    assert [{k: d[k] for k in ("name", "counts")} for d in delta["processes"]["differs"]] == [
        {"name": "step", "counts": {"p0": 1, "p1": 2}}
    ]
    assert delta["processes"]["differs"][0]["message"].startswith(  # the widget shows it as is
        "step compiled a different number of times per process (p0: 1 · p1: 2)"
    )
    assert state.functions == {} and state.memory is None  # never mixed into the kernel's own
    text = monitorview.summary_text(state.snapshot())
    assert "p1 h:102 connected: 2 compiles, 8.0 KiB live" in text
    assert "⚠ step compiled a different number of times per process (p0: 1, p1: 2)" in text


def test_the_processes_magic(ip):
    ip.run_line_magic("load_ext", "jaxinspect")
    try:
        out = ip.run_line_magic("jaxinspect", "processes")
        assert "no collector is open" in repr(out)
        out = ip.run_line_magic("jaxinspect", "processes --listen")
        c = processes.current_collector()
        assert c.address in repr(out) and f"JAXINSPECT_COLLECTOR_TOKEN={c.token}" in repr(out)
        assert ip.run_line_magic("jaxinspect", "processes") is c
        assert "PORT must be a number" in repr(ip.run_line_magic("jaxinspect", "processes --listen x"))
        assert "unexpected" in repr(ip.run_line_magic("jaxinspect", "processes now"))
        assert "closed the collector" in repr(ip.run_line_magic("jaxinspect", "processes --stop"))
        assert not c.running
    finally:
        processes.close_collector()
