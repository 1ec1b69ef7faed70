"""The wire's one source of truth: the JSON schema and the TypeScript types are generated from
``records.py`` / ``protocol.py`` (``python -m jaxinspect.schema --write``), the committed copies
must equal what the definitions generate now, and every record kind, message, collector line and
monitor message that jaxinspect really produces validates against the schema."""

import json

import pytest

from jaxinspect import protocol, schema

REGENERATE = f"run `{schema.COMMAND}` (or `jlpm gen:schema`) and commit what it rewrote"


def _rel(path):
    return path.relative_to(schema.ROOT)


# -- drift --------------------------------------------------------------------------------------


def test_committed_json_schema_is_what_the_records_generate():
    files = schema.generated(with_ts=False)
    for path in (schema.SCHEMA_PATH, schema.TS_SCHEMA):
        assert path.exists(), f"{_rel(path)} is missing: {REGENERATE}"
        assert path.read_text(encoding="utf-8") == files[path], (
            f"{_rel(path)} differs from what records.py / protocol.py generate: {REGENERATE}"
        )


@pytest.mark.node
def test_committed_typescript_types_are_what_json2ts_makes_of_the_schema():
    if schema.json2ts_command() is None:
        pytest.skip("node_modules/.bin/json2ts or node is missing (run `jlpm install`)")
    want = schema.ts_types(schema.SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema.TS_TYPES.exists(), f"{_rel(schema.TS_TYPES)} is missing: {REGENERATE}"
    assert schema.TS_TYPES.read_text(encoding="utf-8") == want, (
        f"{_rel(schema.TS_TYPES)} differs from json2ts's output for the schema: {REGENERATE}"
    )


def test_check_command_reports_a_stale_file(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "wire.schema.json"
    stale.write_text("{}\n", encoding="utf-8")
    monkeypatch.setattr(schema, "SCHEMA_PATH", stale)
    monkeypatch.setattr(schema, "ROOT", tmp_path)
    monkeypatch.setattr(schema, "TS_SCHEMA", tmp_path / "schema.ts")
    monkeypatch.setattr(schema, "TS_TYPES", tmp_path / "wire.ts")
    monkeypatch.setattr(schema, "json2ts_command", lambda: None)
    assert schema.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "stale: wire.schema.json" in err and schema.COMMAND in err
    assert schema.main(["--write"]) == 0
    assert schema.main(["--check"]) == 0
    assert json.loads(stale.read_text(encoding="utf-8")) == schema.build()


# -- the schema itself --------------------------------------------------------------------------


def test_the_schema_is_valid_draft_07_and_protocol_reads_it():
    jsonschema = pytest.importorskip("jsonschema")
    wire = schema.build()
    jsonschema.Draft7Validator.check_schema(wire)
    assert protocol.SCHEMA == protocol.compact_schema(protocol.wire_schema())
    assert protocol.SCHEMA["methods"] == list(protocol.METHODS)
    assert set(protocol.SCHEMA["messages"]) == set(protocol.MESSAGES)
    # every record field is required and nothing else is allowed
    for name, cls in ((c.__name__, c) for c in schema.record_classes()):
        d = wire["definitions"][name]
        assert d["additionalProperties"] is False and set(d["required"]) == set(d["properties"]), name
        kind = schema.record_kind(cls)
        if kind is not None:
            assert d["properties"]["kind"]["const"] == kind
