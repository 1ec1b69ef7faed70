"""The `configure` RPC: the sidebar's settings (Settings → jaxinspect) reach the kernel's
``jaxinspect.config`` through its own checks, over the real comm transport of a loaded kernel."""

import io
import warnings
from contextlib import redirect_stderr

import pytest

from jaxinspect import protocol
from jaxinspect.config import config

pytest.importorskip("jax")

OPEN = {"v": protocol.PROTOCOL_VERSION, "type": "open", "client": "test_configure"}


@pytest.fixture
def kernel(ip, monkeypatch):
    """A loaded jaxinspect whose comms a test drives as the sidebar would; config restored after."""
    import comm

    from jaxinspect.collect import keyslib
    from jaxinspect.glue import extension
    from tests.conftest import FakeCommManager

    saved = {name: getattr(config, name) for name in protocol.CONFIGURE_SETTINGS}
    tracker = keyslib.tracker()
    tracker.stop()
    fake = FakeCommManager()
    monkeypatch.setattr(comm, "get_comm_manager", lambda: fake)
    monkeypatch.setattr(comm, "create_comm", fake.create_comm)
    ip.run_line_magic("load_ext", "jaxinspect")
    rpc = fake.frontend_open(protocol.RPC_TARGET, OPEN)
    ids = iter(range(1, 10**6))

    def call(method, params):
        req = {"v": protocol.PROTOCOL_VERSION, "type": "request", "id": next(ids), "method": method,
               "params": params}
        rpc.frontend_send(req)
        (resp,) = [m for m in rpc.messages("response") if m["id"] == req["id"]]
        return resp

    yield ip, extension.current(), call
    if "jaxinspect" in ip.extension_manager.loaded:
        ip.run_line_magic("unload_ext", "jaxinspect")
    tracker.stop()
    for name, value in saved.items():
        config.apply(name, value)


def _valid(value, definition):
    jsonschema = pytest.importorskip("jsonschema")
    defs = protocol.wire_schema()["definitions"]
    errors = list(jsonschema.Draft7Validator({"$ref": f"#/definitions/{definition}",
                                              "definitions": defs}).iter_errors(value))
    return not errors


STORM_CELL = (
    "import jax, jax.numpy as jnp\n"
    "{name} = jax.jit(lambda x: x * 2)\n"
    "for n in range(1, 6):\n"  # 5 shapes: 4 recompiles
    "    {name}(jnp.ones(n))\n"
)


def test_settings_are_applied_live_and_the_kernel_uses_them(kernel):
    ip, insp, call = kernel
    got = []
    token = insp.hub.subscribe(lambda batch: got.extend(batch["records"]))
    try:
        resp = call("configure", {"storm_threshold": 3, "print_alerts": False})
        assert resp["ok"], resp
        assert resp["result"] == {"applied": {"storm_threshold": 3, "print_alerts": False},
                                  "refused": [], "tracking": False}
        assert config.storm_threshold == 3 and config.print_alerts is False
        # sidebar only: the storm is an alert on the wire, and nothing is printed in the cell
        err = io.StringIO()
        with redirect_stderr(err):
            ip.run_cell(STORM_CELL.format(name="quiet"))
        insp.hub.flush()
        storms = [r for r in got if r["kind"] == "compile_alert" and r["reason_kind"] != "memory"]
        assert [a["compiles"] for a in storms] == [4]  # at the 3rd recompile (4th compile)
        assert "jaxinspect:" not in err.getvalue()
        # in the cell too: the same alert is printed as one line
        assert call("configure", {"print_alerts": True})["result"]["applied"] == {"print_alerts": True}
        err = io.StringIO()
        with redirect_stderr(err):
            ip.run_cell(STORM_CELL.format(name="loud"))
        lines = [ln for ln in err.getvalue().splitlines() if ln.startswith("jaxinspect:")]
        assert len(lines) == 1 and "Fix:" in lines[0], err.getvalue()
    finally:
        insp.hub.unsubscribe(token)


def test_a_refused_value_keeps_the_old_one_with_one_clear_line(kernel):
    _, _, call = kernel
    config.apply("storm_threshold", 7)
    resp = call("configure", {"storm_threshold": 0, "print_alerts": "yes", "compile_capacity": 5,
                              "track_keys_on_load": False})
    assert resp["ok"], resp
    result = resp["result"]
    assert result["applied"] == {"track_keys_on_load": False}
    by = {r["setting"]: r["message"] for r in result["refused"]}
    assert by["storm_threshold"] == (
        "jaxinspect: config.storm_threshold takes a whole number ≥ 1, got 0; kept 7")
    assert by["print_alerts"].startswith("jaxinspect: config.print_alerts takes True or False, got 'yes'")
    assert "cannot set 'compile_capacity'" in by["compile_capacity"]
    assert all("\n" not in m for m in by.values())
    assert config.storm_threshold == 7 and config.compile_capacity != 5
    # not a dict: the RPC answers an error, it never raises into the kernel
    bad = call("configure", ["storm_threshold", 3])
    assert bad["ok"] is False and "configure needs" in bad["error"]


def test_key_tracking_on_load(kernel):
    from jaxinspect.collect import keyslib

    ip, _, call = kernel
    tracker = keyslib.tracker()
    assert not tracker.tracking
    # turned on in a running kernel: tracking starts now, as loading would have
    resp = call("configure", {"track_keys_on_load": True})
    assert resp["result"]["tracking"] is True and tracker.tracking
    assert config.track_keys_on_load is True
    # turning it off leaves tracking on (the Keys tab stops it) ...
    assert call("configure", {"track_keys_on_load": False})["result"]["tracking"] is True
    # ... and re-sending the settings (a sidebar reconnecting) restarts nothing the user stopped
    call("track_keys", {"on": False})
    call("configure", {"track_keys_on_load": False})
    config.apply("track_keys_on_load", True)
    assert call("configure", {"track_keys_on_load": True})["result"]["tracking"] is False
    assert not tracker.tracking
    # a kernel that loads jaxinspect with the setting on tracks keys from the start
    config.apply("track_keys_on_load", True)
    ip.run_line_magic("unload_ext", "jaxinspect")
    assert not tracker.tracking
    ip.run_line_magic("load_ext", "jaxinspect")
    assert tracker.tracking
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ip.run_cell("import jax\nk = jax.random.key(0)\na = jax.random.normal(k)\nb = jax.random.normal(k)\n")
    assert any("KeyReuse" in type(w.message).__name__ or "reuse" in str(w.message).lower() for w in caught)


def test_the_wire_shapes_match_the_schema(kernel):
    _, _, call = kernel
    params = {"storm_threshold": 4, "print_alerts": True, "track_keys_on_load": False}
    assert _valid(params, "ConfigureParams")
    resp = call("configure", {**params, "storm_threshold": -1})
    assert _valid(resp["result"], "ConfigureResult")
    assert set(protocol.CONFIGURE_SETTINGS) == set(protocol.ConfigureParams.__annotations__)
