import json
import shutil
import subprocess
from pathlib import Path

import pytest

from jaxinspect import protocol
from jaxinspect.glue.inspector import Inspector
from jaxinspect.live.transport import session_record
from jaxinspect.records import InternalErrorRecord, StatusRecord

ROOT = Path(__file__).resolve().parents[1]


def _check(value, type_, records):
    """Does ``value`` match a SCHEMA type string?"""
    if type_ == "any":
        return True
    if type_.endswith("|null"):
        return value is None or _check(value, type_[:-5], records)
    if type_.startswith("list["):
        return isinstance(value, list) and all(_check(v, type_[5:-1], records) for v in value)
    if type_.startswith("dict[str,"):
        inner = type_[len("dict[str,") : -1]
        return isinstance(value, dict) and all(
            isinstance(k, str) and _check(v, inner, records) for k, v in value.items()
        )
    scalars = {"int": int, "float": (int, float), "str": str, "bool": bool}
    if type_ in scalars:
        if type_ in ("int", "float") and isinstance(value, bool):
            return False
        return isinstance(value, scalars[type_])
    fields = records[type_]
    return (
        isinstance(value, dict)
        and set(value) == set(fields)
        and all(_check(value[k], t, records) for k, t in fields.items())
    )


def test_records_match_the_schema(comm_manager):
    records = protocol.SCHEMA["records"]
    insp = Inspector(comm_manager=comm_manager, create_comm=comm_manager.create_comm)
    insp.start()
    try:
        hello = insp.hello()
        assert _check(hello["env"], "env", records)
        assert _check(hello["status"], "status", records)
        assert _check(session_record().to_json(), "Session", records)
        assert _check(
            InternalErrorRecord(where="x", message="y", count=1).to_json(),
            "internal_error",
            records,
        )
    finally:
        insp.close()


def test_schema_checker_rejects_wrong_shapes():
    records = protocol.SCHEMA["records"]
    good = StatusRecord(
        seq=1,
        time=1.0,
        busy=False,
        execution_count=0,
        cell_elapsed_s=None,
        events_total=0,
        events_by_kind={},
        subscribers=0,
        internal_errors=0,
    ).to_json()
    assert _check(good, "status", records)
    assert not _check({**good, "busy": "no"}, "status", records)
    assert not _check({k: v for k, v in good.items() if k != "seq"}, "status", records)


def test_message_builder_checks_types_and_fields():
    msg = protocol.message("goodbye", reason="bye")
    assert msg == {"v": protocol.PROTOCOL_VERSION, "type": "goodbye", "reason": "bye"}
    with pytest.raises(protocol.ProtocolError, match="unknown message type"):
        protocol.message("nope")
    with pytest.raises(protocol.ProtocolError, match="missing reason"):
        protocol.message("goodbye")
    # every message built round-trips through JSON unchanged
    assert json.loads(json.dumps(msg)) == msg


def test_check_version_names_both_versions_and_the_fix():
    assert protocol.check_version({"v": protocol.PROTOCOL_VERSION}) is None
    text = protocol.check_version({"v": 7})
    assert "v7" in text and f"v{protocol.PROTOCOL_VERSION}" in text and "restart the kernel" in text
    assert "without a protocol version" in protocol.check_version({"type": "open"})


@pytest.mark.node
def test_typescript_schema_equals_python_schema():
    """The built lib/protocol.js (its SCHEMA from the generated generated/schema.ts) loads in
    bare Node and describes exactly the protocol protocol.py reads from the JSON schema."""
    node = shutil.which("node")
    built = ROOT / "lib" / "protocol.js"
    assert node, "node is required for this test (run the full suite via .ci/run)"
    assert built.exists(), "lib/protocol.js is missing: run `jlpm build:lib` first"
    out = subprocess.run(
        [
            node,
            "--input-type=module",
            "-e",
            f"import({json.dumps(built.as_uri())}).then(m => console.log(JSON.stringify({{v: m.PROTOCOL_VERSION, push: m.PUSH_TARGET, rpc: m.RPC_TARGET, schema: m.SCHEMA}})))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    ts = json.loads(out.stdout)
    assert ts["schema"] == protocol.SCHEMA
    assert (ts["v"], ts["push"], ts["rpc"]) == (
        protocol.PROTOCOL_VERSION,
        protocol.PUSH_TARGET,
        protocol.RPC_TARGET,
    )
