"""A real ipykernel: pushes arrive while a cell runs, and RPC is answered on a subshell meanwhile."""

import json
import os
import sys
import time
import uuid
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parents[1]

OPEN = {"v": 1, "type": "open", "client": "pytest"}


def start_kernel(tmp_path):
    """An ipykernel on this interpreter, importing jaxinspect from this checkout."""
    spec_dir = tmp_path / "kernels" / "jaxinspect-test"
    spec_dir.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec_dir / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "t", "language": "python"})
    )
    km = KernelManager(
        kernel_name="jaxinspect-test",
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")]),
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    km.start_kernel(env=env)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return km, kc


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    km, kc = start_kernel(tmp_path_factory.mktemp("kernel"))
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def execute(kc, code, timeout=60):
    msg_id = kc.execute(code)
    reply = kc.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=timeout)
    assert reply["content"]["status"] == "ok", reply["content"]
    return msg_id


def drain_iopub(kc, until, timeout=30):
    """Collect IOPub messages until ``until(msgs)`` is true."""
    msgs = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=0.2)
        except Exception:
            continue
        msg["_t"] = time.monotonic()
        msgs.append(msg)
        if until(msgs):
            return msgs
    raise AssertionError(f"timed out; got {[m['msg_type'] for m in msgs]}")


def comm_open(kc, target, data, subshell_id=None):
    comm_id = uuid.uuid4().hex
    msg = kc.session.msg("comm_open", {"comm_id": comm_id, "target_name": target, "data": data})
    if subshell_id:
        msg["header"]["subshell_id"] = subshell_id
    kc.shell_channel.send(msg)
    return comm_id


def comm_send(kc, comm_id, data, subshell_id=None):
    msg = kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
    if subshell_id:
        msg["header"]["subshell_id"] = subshell_id
    kc.shell_channel.send(msg)


def comm_data(msgs, comm_id, type_=None):
    out = []
    for m in msgs:
        if m["msg_type"] in ("comm_msg", "comm_open") and m["content"].get("comm_id") == comm_id:
            data = m["content"]["data"]
            if type_ is None or data.get("type") == type_:
                out.append((m, data))
    return out


@pytest.mark.kernel
def test_pushes_arrive_while_a_cell_sleeps_and_rpc_answers_on_a_subshell(kernel):
    km, kc = kernel
    # no jaxinspect yet: opening a comm to its target is refused with a close
    refused = comm_open(kc, "jaxinspect", OPEN)
    drain_iopub(
        kc,
        lambda ms: any(
            m["msg_type"] == "comm_close" and m["content"]["comm_id"] == refused for m in ms
        ),
    )

    execute(kc, "%load_ext jaxinspect")
    announce = drain_iopub(kc, lambda ms: any(m["msg_type"] == "comm_open" for m in ms))
    (opened,) = [m for m in announce if m["msg_type"] == "comm_open"]
    assert opened["content"]["target_name"] == "jaxinspect"
    assert opened["content"]["data"]["type"] == "announce"

    push = comm_open(kc, "jaxinspect", OPEN)
    hello = drain_iopub(kc, lambda ms: comm_data(ms, push, "hello"))
    ((_, data),) = comm_data(hello, push, "hello")
    assert data["env"]["jax_version"] and data["session"]["protocol"] == 1

    # a subshell for requests, as JupyterLab >= 4.4 does for comms
    kc.control_channel.send(kc.session.msg("create_subshell_request", {}))
    reply = kc.get_control_msg(timeout=10)
    assert reply["content"]["status"] == "ok", reply["content"]
    subshell = reply["content"]["subshell_id"]
    rpc = comm_open(kc, "jaxinspect.rpc", OPEN, subshell_id=subshell)

    msg_id = kc.execute("import time\nfor _ in range(10):\n    time.sleep(0.5)\n")
    time.sleep(1.0)  # the cell is now sleeping on the main shell
    comm_send(
        kc, rpc, {"v": 1, "type": "request", "id": 1, "method": "ping", "params": None}, subshell
    )

    def cell_done(ms):
        return any(
            m["msg_type"] == "status"
            and m["content"]["execution_state"] == "idle"
            and m["parent_header"].get("msg_id") == msg_id
            for m in ms
        )

    msgs = drain_iopub(kc, cell_done, timeout=60)
    end = next(m["_t"] for m in msgs if cell_done([m]))
    busy_status = [
        (m["_t"], r)
        for m, d in comm_data(msgs, push, "batch")
        for r in d["records"]
        if r["kind"] == "status" and r["busy"]
    ]
    before_end = [(t, r) for t, r in busy_status if t < end]
    # the heartbeat kept coming during the 5 s cell, with increasing seq and elapsed time
    assert len(before_end) >= 5, [r for _, r in busy_status]
    seqs = [r["seq"] for _, r in before_end]
    assert seqs == sorted(seqs)
    assert before_end[-1][1]["cell_elapsed_s"] > 3.0
    # and the rpc was answered long before the cell ended
    responses = comm_data(msgs, rpc, "response")
    assert responses, "no RPC response while the cell ran"
    ((resp_msg, resp),) = responses
    assert resp["ok"] and resp["id"] == 1
    assert resp_msg["_t"] < end - 2.0
    # pushes are throttled: never more than ~10 per second
    batch_times = [m["_t"] for m, _ in comm_data(msgs, push, "batch")]
    span = max(batch_times) - min(batch_times)
    assert len(batch_times) <= span * 10 + 3

    # unload says goodbye and closes the comm
    execute(kc, "%unload_ext jaxinspect")
    bye = drain_iopub(
        kc,
        lambda ms: any(
            m["msg_type"] == "comm_close" and m["content"]["comm_id"] == push for m in ms
        ),
    )
    assert comm_data(bye, push, "goodbye")
