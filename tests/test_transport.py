from conftest import wait_for

from jaxinspect import protocol
from jaxinspect.glue.inspector import Inspector

OPEN = {"v": protocol.PROTOCOL_VERSION, "type": "open", "client": "test"}


def make(comm_manager):
    insp = Inspector(comm_manager=comm_manager, create_comm=comm_manager.create_comm)
    insp.start()
    return insp


def test_start_registers_both_targets_and_announces(comm_manager):
    insp = make(comm_manager)
    try:
        assert set(comm_manager.targets) == {"jaxinspect", "jaxinspect.rpc"}
        (announce,) = comm_manager.created
        assert announce.target_name == "jaxinspect"
        assert announce.open_data["type"] == "announce"
        assert announce.open_data["v"] == protocol.PROTOCOL_VERSION
        assert announce.closed
    finally:
        insp.close()


def test_push_comm_gets_hello_then_live_status_batches(comm_manager):
    insp = make(comm_manager)
    try:
        comm = comm_manager.frontend_open("jaxinspect", OPEN)
        hello = comm.messages()[0]
        assert hello["type"] == "hello" and hello["v"] == protocol.PROTOCOL_VERSION
        assert hello["session"]["protocol"] == protocol.PROTOCOL_VERSION
        assert hello["env"]["kind"] == "env" and hello["env"]["python_version"]
        assert hello["status"]["kind"] == "status"
        # the sampler runs while a sidebar is subscribed: heartbeats arrive on their own
        assert insp.sampler.running

        def statuses():
            return [
                r for b in comm.messages("batch") for r in b["records"] if r["kind"] == "status"
            ]

        assert wait_for(lambda: len(statuses()) >= 2, timeout=5)
        seqs = [s["seq"] for s in statuses()]
        assert seqs == sorted(seqs)
        insp.kernel.cell_started(7)
        assert wait_for(lambda: statuses()[-1]["busy"] and statuses()[-1]["execution_count"] == 7)
        insp.kernel.cell_finished()
        assert wait_for(lambda: not statuses()[-1]["busy"])
        # frontend closes: the sampler stops, the subscription is gone
        comm.frontend_close()
        assert not insp.sampler.running
        assert insp.hub.subscriber_count == 0
    finally:
        insp.close()


def test_version_mismatch_gets_one_clear_error_and_a_close(comm_manager):
    insp = make(comm_manager)
    try:
        comm = comm_manager.frontend_open("jaxinspect", {"v": 999, "type": "open", "client": "x"})
        (err,) = comm.messages()
        assert err["type"] == "error" and err["code"] == "version_mismatch"
        assert "v999" in err["message"] and f"v{protocol.PROTOCOL_VERSION}" in err["message"]
        assert comm.closed
        assert insp.hub.subscriber_count == 0
        rpc = comm_manager.frontend_open("jaxinspect.rpc", {"type": "open"})
        assert rpc.messages()[0]["code"] == "version_mismatch" and rpc.closed
    finally:
        insp.close()


def test_rpc_methods_answer_and_errors_come_back_as_responses(comm_manager):
    insp = make(comm_manager)
    try:
        rpc = comm_manager.frontend_open("jaxinspect.rpc", OPEN)
        req = lambda i, m: {"v": 1, "type": "request", "id": i, "method": m, "params": None}  # noqa: E731
        rpc.frontend_send(req(1, "ping"))
        rpc.frontend_send(req(2, "hello"))
        rpc.frontend_send(req(3, "snapshot"))
        rpc.frontend_send(req(4, "nope"))
        r1, r2, r3, r4 = rpc.messages("response")
        assert (r1["id"], r1["ok"]) == (1, True) and "time" in r1["result"]
        assert r2["result"]["env"]["kind"] == "env"
        assert "env" in r3["result"]["records"]
        assert (
            r4["ok"] is False and "unknown method 'nope'" in r4["error"] and "ping" in r4["error"]
        )
        rpc.frontend_send({"v": 0, "type": "request", "id": 5, "method": "ping"})
        assert rpc.messages()[-1]["code"] == "version_mismatch"
    finally:
        insp.close()


def test_stop_says_goodbye_closes_comms_and_removes_only_our_targets(comm_manager):
    other = object()
    comm_manager.register_target("someone.else", other)
    insp = make(comm_manager)
    push = comm_manager.frontend_open("jaxinspect", OPEN)
    rpc = comm_manager.frontend_open("jaxinspect.rpc", OPEN)
    insp.close()
    assert push.messages()[-1]["type"] == "goodbye"
    assert push.closed and rpc.closed
    assert comm_manager.targets == {"someone.else": other}
    insp.close()  # idempotent


def test_a_sidebar_that_stops_pinging_is_dropped_after_idle_silence(comm_manager):
    """A page closed or reloaded without a goodbye leaves its comms open in the kernel; the
    kernel stops sending to it once it has been silent for sidebar_silence_s of idle time."""
    from jaxinspect.config import config

    insp = make(comm_manager)
    try:
        gone = {**OPEN, "client": "jupyterlab-sidebar/gone"}
        alive = {**OPEN, "client": "jupyterlab-sidebar/alive"}
        old = {**OPEN, "client": "jupyterlab-sidebar"}  # an older sidebar that never pings
        comms = {}
        for name, data in (("gone", gone), ("alive", alive), ("old", old)):
            push = comm_manager.frontend_open("jaxinspect", data)
            rpc = comm_manager.frontend_open("jaxinspect.rpc", data)
            rpc.frontend_send({"v": protocol.PROTOCOL_VERSION, "type": "request", "id": 1, "method": "ping", "params": {}})
            comms[name] = (push, rpc)
        assert insp.transport.push_comm_count == 3
        t = insp.transport
        assert t.sweep(config.sidebar_silence_s + 1, busy=True) == 0  # a busy kernel judges nobody
        t.sweep(config.sidebar_silence_s / 2, busy=False)
        comms["alive"][1].frontend_send({"v": protocol.PROTOCOL_VERSION, "type": "request", "id": 2, "method": "ping", "params": {}})
        assert t.sweep(config.sidebar_silence_s / 2 + 1, busy=False) == 1
        push, rpc = comms["gone"]
        assert push.closed and rpc.closed
        assert push.messages("goodbye")[-1]["reason"].startswith("no word from this sidebar")
        assert insp.transport.push_comm_count == 2 and not comms["alive"][0].closed
        assert not comms["old"][0].closed  # never pinged: never judged
        assert insp.hub.subscriber_count == 2
    finally:
        insp.close()


def test_each_ping_answer_says_how_often_to_ping_from_the_silence_limit(comm_manager):
    """A sidebar pings at the kernel's pace: a quarter of sidebar_silence_s, at most 20 s. With a
    fixed 20 s ping a 25 s limit dropped a live sidebar whose one ping came late (seen in CI)."""
    from jaxinspect.config import config

    insp = make(comm_manager)
    saved = config.sidebar_silence_s
    try:
        data = {**OPEN, "client": "jupyterlab-sidebar/alive"}
        comm_manager.frontend_open("jaxinspect", data)
        rpc = comm_manager.frontend_open("jaxinspect.rpc", data)
        answers = []
        for i, limit in enumerate((120.0, 25.0, 1.0)):
            config.sidebar_silence_s = limit
            rpc.frontend_send({"v": protocol.PROTOCOL_VERSION, "type": "request", "id": i, "method": "ping", "params": {}})
            answers.append(rpc.messages("response")[-1]["result"]["every_s"])
        assert answers == [20.0, 6.25, 0.5]
    finally:
        config.sidebar_silence_s = saved
        insp.close()
