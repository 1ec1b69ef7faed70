"""The wire's one source of truth: the JSON schema and the TypeScript types are generated from
``records.py`` / ``protocol.py`` (``python -m jaxinspect.schema --write``), the committed copies
must equal what the definitions generate now, and every record kind, message, collector line and
monitor message that jaxinspect really produces validates against the schema."""

import json
import time
import warnings

import pytest

from jaxinspect import protocol, schema

OPEN = {"v": protocol.PROTOCOL_VERSION, "type": "open", "client": "test_schema"}
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


# -- real records and messages validate ---------------------------------------------------------
#
# One module fixture drives a real session: %load_ext jaxinspect with the comm package's manager
# replaced by the test's (so the sidebar's push and rpc messages are captured as sent), real jitted
# recompiles, a leaking list, a watched tree that turns NaN, a reused PRNG key, an in-cell monitor,
# this kernel's collector with a forwarder sending through a recording loopback proxy, and the
# jaxpr / buffers / params / keys views. Every value it captures is validated against the
# definition it claims to be, and every definition must be exercised by at least one value.

ACTIVITY = """
import jax, jax.numpy as jnp, jaxinspect

@jax.jit
def step(x, k):
    return x * 2 + jax.random.normal(k, x.shape)

k0 = jax.random.key(0)
for n in range(1, 8):
    y = step(jnp.ones(n), k0)          # a recompile per shape: compile, compile_stats, a storm
jaxinspect.track_keys()
k1 = jax.random.key(1)
a = jax.random.normal(k1)
b = jax.random.uniform(k1)             # a reused key: key_reuse
tree = {"w": jnp.ones((4, 4)), "b": jnp.zeros(4)}
jaxinspect.watch("params", tree, step=0)
bad = {"w": jnp.full((4, 4), jnp.nan), "b": jnp.zeros(4)}
jaxinspect.watch("params", bad, step=1);  # params_alert
"""


class _Recorder:
    """Stands in for the monitor's anywidget where anywidget is missing: records what is sent."""

    def __init__(self):
        self.sent = []
        self.snapshot = {}

    def send(self, msg):
        self.sent.append(msg)

    def close(self):
        pass


class _LineProxy:
    """A loopback TCP proxy between a forwarder and the collector that records every line both
    ways, exactly as live/remote.py's encoders wrote them."""

    def __init__(self, upstream):
        import socket
        import threading

        self.upstream = upstream
        self.lines = []  # (direction, bytes)
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        import threading

        while True:
            try:
                down, _ = self._sock.accept()
            except OSError:
                return
            up = socket.create_connection(self.upstream)
            for src, dst, tag in ((down, up, "sender"), (up, down, "collector")):
                threading.Thread(target=self._pump, args=(src, dst, tag), daemon=True).start()

    def _pump(self, src, dst, tag):
        reader = src.makefile("rb")
        try:
            for line in reader:
                with self._lock:
                    self.lines.append((tag, line))
                dst.sendall(line)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(2)
                except OSError:
                    pass

    def close(self):
        self._sock.close()


class _Cases:
    def __init__(self):
        self.items = []  # (definition, JSON value, where it came from)
        self._seen = set()

    def add(self, definition, value, origin):
        # through JSON as on the wire (strict: a NaN would break the browser's JSON.parse)
        text = json.dumps(value, allow_nan=False, sort_keys=True)
        if (definition, text) not in self._seen:  # the same record in a batch and a snapshot
            self._seen.add((definition, text))
            self.items.append((definition, json.loads(text), origin))

    def records(self, values, origin):
        kinds = {schema.record_kind(c): c.__name__ for c in schema.record_classes()}
        kinds["remote"] = "RemoteRecord"
        for value in values:
            self.add(kinds.get(value.get("kind"), f"<unknown kind {value.get('kind')!r}>"), value, origin)


@pytest.fixture(scope="module")
def produced():
    pytest.importorskip("jax")
    jsonschema_mod()
    import comm
    from conftest import FakeCommManager, wait_for
    from IPython.core.interactiveshell import InteractiveShell

    import jaxinspect
    from jaxinspect import errors
    from jaxinspect.collect import envlib
    from jaxinspect.glue import extension
    from jaxinspect.live import remote
    from jaxinspect.live.hub import Hub

    cases = _Cases()
    fake = FakeCommManager()
    ip = InteractiveShell.instance()
    if "jaxinspect" in ip.extension_manager.loaded:  # left loaded by an earlier test
        ip.run_line_magic("unload_ext", "jaxinspect")
    extension.unload(ip)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(comm, "get_comm_manager", lambda: fake)
        mp.setattr(comm, "create_comm", fake.create_comm)
        ip.run_line_magic("load_ext", "jaxinspect")
        insp = extension.current()
        collector = proxy = None
        try:
            cases.add("OpenMessage", OPEN, "the open data a sidebar sends")
            push = fake.frontend_open(protocol.PUSH_TARGET, OPEN)
            rpc = fake.frontend_open(protocol.RPC_TARGET, OPEN)
            requests = {}

            def call(method, params):
                req = {"v": protocol.PROTOCOL_VERSION, "type": "request", "id": len(requests) + 1,
                       "method": method, "params": params}
                requests[req["id"]] = req
                rpc.frontend_send(req)

            mon = jaxinspect.monitor(mode="widget", plot=False)
            if mon.widget is None:  # no anywidget here: record what the widget would be sent
                mon.widget = _Recorder()
            else:
                sent = []
                mon.widget.send = sent.append
            call("interest", {"buffers": 0.25, "params": 0.25})
            with warnings.catch_warnings():  # the reused key's warning is the point
                warnings.simplefilter("ignore")
                ip.run_cell(ACTIVITY)
            leak = ip.user_ns.setdefault("leak", [])
            import jax.numpy as jnp

            for i in range(5):  # an owner that keeps growing: buffer_alert
                leak.extend(jnp.ones((64, 64)) * (i + j) for j in range(2))
                insp.sample_buffers("cell")
            insp.sample_params()
            insp.publish_keys(force=True)
            errors.record("test_schema", RuntimeError("a caught internal error"))
            # where the main thread is (this test's frames), and its stack as if asked for it
            from jaxinspect.collect import stacklib

            insp.note_step(7)
            liveness, stack = stacklib.Probe(progress=insp.progress).read(asked=True)
            insp.hub.publish(liveness.to_json())
            insp.hub.publish(stack.to_json())
            # the collector, a forwarder through the recording proxy, and a refused sender
            collector = jaxinspect.collect_processes()
            proxy = _LineProxy(remote.parse_address(collector.address))
            sender_hub = Hub()
            calls = []

            def identity():  # the real identity; jax.distributed "starts" after the hello
                out = envlib.process_identity()
                calls.append(1)
                if len(calls) > 1:
                    out["process_count"] = 2
                return out

            fwd = remote.Forwarder(sender_hub, proxy.address, collector.token, identity)
            assert wait_for(lambda: fwd.status()["state"] == "connected", timeout=30)
            insp.hub.flush()
            own = [r for b in push.messages("batch") for r in b["records"]
                   if r["kind"] not in ("process", "remote", "processes")]
            # what the job's processes send: step's compile_stats and one record of each kind
            firsts = list({r["kind"]: r for r in reversed(own)}.values())
            steps = [r for r in own if r["kind"] == "compile_stats" and r["fun_name"] == "step"]
            for record in firsts + steps:
                sender_hub.publish(record)
            sender_hub.flush()
            assert wait_for(lambda: fwd.status()["queued"] == 0 and fwd.status()["sent"] > 0, 30)
            fwd.close()
            # a second process of the "job" that stopped after step's second compile: the
            # processes record and the monitor mark step as differing between them
            other_hub = Hub()
            other = remote.Forwarder(other_hub, proxy.address, collector.token,
                                     lambda: {**envlib.process_identity(), "pid": 1, "process_index": 1})
            assert wait_for(lambda: other.status()["state"] == "connected", timeout=30)
            for record in firsts + [r for r in steps if r["compiles"] <= 2]:
                other_hub.publish(record)
            other_hub.flush()
            assert wait_for(lambda: other.status()["queued"] == 0 and other.status()["sent"] > 0, 30)
            other.close()
            # an ipyparallel engine's publications (what publish_data would carry)
            from jaxinspect.live import ippbridge

            engine_hub, published = Hub(), []
            engine = ippbridge.EnginePublisher(
                engine_hub, published.append,
                lambda: {**envlib.process_identity(), "engine_id": 3, "doorbell": "SIGURG"}, 3)
            for record in firsts:
                engine_hub.publish(record)
            engine_hub.flush()
            assert wait_for(lambda: engine.status()["sent"] >= len(firsts), timeout=30)
            engine.close()
            assert published[-1][ippbridge.KEY]["type"] == "bye"
            for data in published:
                cases.add("EnginePublication", data[ippbridge.KEY], "an engine's publication")
                cases.records(data[ippbridge.KEY]["records"], "an engine's publication")
            refused = remote.Forwarder(Hub(), proxy.address, "wrong-token", identity, say=lambda t: None)
            assert wait_for(lambda: refused.status()["state"] == "refused", timeout=30)
            refused.close()
            assert collector.wait(2, timeout=30, ended=True)
            time.sleep(remote.PROCESS_RECORD_EVERY + 0.3)  # the collector's trailing updates
            # rpc: every method, once each (compile_diff of a real recompile, and of no event)
            call("ping", {})
            call("hello", {})
            call("snapshot", {})
            call("track_keys", {"on": False})
            call("track_keys", {"on": True})
            from jaxinspect.config import config  # the settings as they are, and one refused

            call("configure", {"storm_threshold": 0, "print_alerts": config.print_alerts,
                               "track_keys_on_load": config.track_keys_on_load,
                               "stuck_after_s": config.stuck_after_s})
            from jaxinspect.glue import processes as processes_glue  # what %load_ext registers

            insp.transport.register_method("stacks", processes_glue.stacks_rpc)
            call("stacks", {"timeout_s": 0.5})
            recompile = next(r for r in own if r["kind"] == "compile" and r["fun_name"] == "step"
                             and r["reasons"] and r["reasons"][0]["kind"] == "shape")
            call("compile_diff", {"event_id": recompile["id"]})
            call("compile_diff", {"event_id": 10**9})
            call("nope", {})
            for req in requests.values():
                cases.add("RequestMessage", req, f"a {req['method']} request")
                if req["method"] in protocol.METHODS:
                    params = protocol.METHODS[req["method"]][0].__name__
                    cases.add(params, req["params"], f"{req['method']} params")
            for resp in rpc.messages("response"):
                cases.add("ResponseMessage", resp, "a response")
                method = requests[resp["id"]]["method"]
                if resp["ok"]:
                    result = protocol.METHODS[method][1].__name__
                    cases.add(result, resp["result"], f"the {method} result")
                    if method == "snapshot":
                        for kind, recs in resp["result"]["records"].items():
                            cases.records(recs, f"snapshot[{kind}]")
            insp.hub.flush()  # deliver what the collector published, then the monitor's last state
            mon.flush(final=True)
            insp.hub.flush()
            wrong = fake.frontend_open(protocol.PUSH_TARGET, {**OPEN, "v": 999})
            cases.add("ErrorMessage", wrong.messages()[0], "a version mismatch")
            for msg in push.messages():
                cases.add(protocol.MESSAGES[msg["type"]].__name__, msg, f"push {msg['type']}")
                if msg["type"] == "batch":
                    cases.records(msg["records"], "a batch")
            cases.add("AnnounceMessage", fake.created[0].open_data, "the load announce")
            for direction, line in proxy.lines:
                msg = json.loads(line)
                name = {"hello": "CollectorHello", "info": "CollectorInfo", "batch": "CollectorBatch",
                        "bye": "CollectorBye", "welcome": "CollectorWelcome",
                        "error": "CollectorError"}[msg["type"]]
                cases.add(name, msg, f"a collector line ({direction})")
                if msg["type"] == "batch":
                    cases.records(msg["records"], "a collector batch line")
            widget_sent = mon.widget.sent if isinstance(mon.widget, _Recorder) else sent
            for msg in widget_sent:
                cases.add("MonitorDeltaMessage", msg, "a monitor message")
            cases.add("MonitorSnapshot", mon.widget.snapshot, "the monitor's snapshot trait")
            # the API's views: their to_json() carries records and record parts
            ns = ip.user_ns
            ip.run_cell(
                "def twice(k):\n"
                "    return jax.random.normal(k) + jax.random.uniform(k)\n"
                "jv = jaxinspect.jaxpr(twice, k0)\n"
                "jv.cost()\n"
                "dv = jaxinspect.jaxpr(step, jnp.ones(3), k0).diff(jaxinspect.jaxpr(step, jnp.ones((2, 3)), k0))\n"
                "bv = jaxinspect.buffers()\n"
                "sv = jaxinspect.sharding(y)\n"
                "pv = jaxinspect.params(tree, stats=True)\n"
                "kv = jaxinspect.keys()\n"
            )
            jv, dv, bv, sv, pv, kv = (ns[n] for n in ("jv", "dv", "bv", "sv", "pv", "kv"))
            out = jv.to_json()
            cases.add("JaxprDoc", out["doc"], "jaxinspect.jaxpr(...).to_json()['doc']")
            cases.add("CostRecord", out["cost"], "jaxinspect.jaxpr(...).cost()")
            cases.add("JaxprDiff", dv.to_json(), "JaxprView.diff(...)")
            out = bv.to_json()
            cases.add("BuffersRecord", out["record"], "jaxinspect.buffers()")
            for row in out["arrays"]:
                cases.add("ArrayRow", row, "jaxinspect.buffers() arrays")
            for alert in out["alerts"]:
                cases.add("BufferAlert", alert, "jaxinspect.buffers() alerts")
            for shard in sv.to_json()["shards"]:
                cases.add("ShardRecord", shard, "jaxinspect.sharding(y)")
            out = pv.to_json()
            for leaf in out["leaves"]:
                cases.add("ParamLeaf", leaf, "jaxinspect.params(tree)")
            for stats in out["stats"]:
                cases.add("ParamStats", stats, "jaxinspect.params(tree, stats=True)")
            out = kv.to_json()
            cases.add("KeysRecord", out["keys"], "jaxinspect.keys()")
            for reuse in out["reuses"]:
                cases.add("KeyReuse", reuse, "jaxinspect.keys() reuses")
            mon.close()
        finally:
            if proxy is not None:
                proxy.close()
            if collector is not None:
                collector.close()
            ip.run_line_magic("jaxinspect", "keys off")
            ip.run_line_magic("unload_ext", "jaxinspect")
            extension.unload(ip)
        for msg in push.messages("goodbye"):
            cases.add("GoodbyeMessage", msg, "the unload goodbye")
    return cases


def _validator(wire, definition):
    return jsonschema_mod().Draft7Validator(
        {"$ref": f"#/definitions/{definition}", "definitions": wire["definitions"]}
    )


def jsonschema_mod():
    return pytest.importorskip("jsonschema")


@pytest.fixture(scope="module")
def wire():
    """The schema with ``AnyRecord`` dispatched on ``kind`` (``if``/``then``) rather than tried
    branch by branch: the same values pass (every record definition requires its ``kind``
    constant), errors name the field of the right kind, and it is ~10x faster. The root check
    below validates messages with the schema exactly as generated."""
    out = schema.build()
    defs = out["definitions"]
    branches = [o["$ref"].rsplit("/", 1)[-1] for o in defs["AnyRecord"]["anyOf"]]
    kinds = [defs[b]["properties"]["kind"]["const"] for b in branches]
    out["definitions"] = {
        **defs,
        "AnyRecord": {
            "type": "object",
            "required": ["kind"],
            "properties": {"kind": {"enum": kinds}},
            "allOf": [
                {"if": {"properties": {"kind": {"const": k}}}, "then": {"$ref": f"#/definitions/{b}"}}
                for k, b in zip(kinds, branches, strict=True)
            ],
        },
    }
    return out


@pytest.fixture(scope="module")
def exercised(produced, wire):
    """Definition -> the first real value of it, nested values included."""
    seen, cache = {}, {}
    for definition, value, _origin in produced.items:
        if definition in wire["definitions"] and _validator(wire, definition).is_valid(value):
            _touched(value, {"$ref": f"#/definitions/{definition}"}, wire, seen, cache)
    return seen


def _touched(value, node, wire, out, cache):
    """The definitions ``value`` (valid against ``node``) exercises, nested ones included:
    ``out[definition]`` is the first value seen for it."""
    defs = wire["definitions"]
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        out.setdefault(name, value)
        _touched(value, defs[name], wire, out, cache)
        return
    if "anyOf" in node:
        for option in node["anyOf"]:
            key = json.dumps(option, sort_keys=True)
            if key not in cache:
                cache[key] = jsonschema_mod().Draft7Validator({**option, "definitions": defs})
            if cache[key].is_valid(value):
                _touched(value, option, wire, out, cache)
                return
        return
    for part in node.get("allOf", ()):  # AnyRecord dispatched on kind (see ``wire``)
        if "if" in part and isinstance(value, dict):
            if value.get("kind") == part["if"]["properties"]["kind"]["const"]:
                _touched(value, part["then"], wire, out, cache)
    if isinstance(value, dict):
        for k, v in value.items():
            sub = node.get("properties", {}).get(k, node.get("additionalProperties"))
            if isinstance(sub, dict):
                _touched(v, sub, wire, out, cache)
    elif isinstance(value, list) and "items" in node:
        items = node["items"]
        for i, v in enumerate(value):
            sub = items[i] if isinstance(items, list) else items
            _touched(v, sub, wire, out, cache)


def test_every_value_jaxinspect_produces_validates(produced, wire):
    problems = []
    validators = {}
    for definition, value, origin in produced.items:
        if definition not in wire["definitions"]:
            problems.append(f"{origin}: no definition {definition!r} in the schema")
            continue
        v = validators.setdefault(definition, _validator(wire, definition))
        for error in list(v.iter_errors(value))[:3]:
            path = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{origin} ({definition} at /{path}): {error.message[:300]}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
    # one message of each type also validates against the schema's root exactly as generated
    root = jsonschema_mod().Draft7Validator(schema.build())
    firsts = {}
    for d, v, _ in produced.items:
        if d.endswith(("Message", "Snapshot")) or d.startswith("Collector") or d == "EnginePublication":
            firsts.setdefault(d, v)
    assert len(firsts) == len(protocol.MESSAGES) + len(protocol.COLLECTOR_LINES) + 2
    for d, v in firsts.items():
        assert root.is_valid(v), d


def test_every_definition_is_exercised_by_a_real_value(exercised, wire):
    """A new record kind, part or message without a producing case here fails."""
    missing = sorted(set(wire["definitions"]) - set(exercised))
    assert not missing, (
        f"no real value exercises {', '.join(missing)}: produce one in tests/test_schema.py's "
        "`produced` fixture"
    )
    for cls in schema.record_classes():  # every dataclass of records.py is on the wire
        assert cls.__name__ in wire["definitions"]


def test_a_wrong_type_a_missing_or_an_extra_field_fails(exercised, wire):
    """For every record kind, record part and message produced: each field retyped or dropped,
    or an unknown field added, makes the real value invalid."""
    firsts = {
        d: v for d, v in exercised.items()
        if isinstance(v, dict) and wire["definitions"][d].get("required")
    }
    records_ = {c.__name__ for c in schema.record_classes()} | {"RemoteRecord"}
    assert records_ <= set(firsts), sorted(records_ - set(firsts))
    for definition, value in firsts.items():
        v = _validator(wire, definition)
        assert v.is_valid(value), definition
        props = wire["definitions"][definition]["properties"]
        for field in wire["definitions"][definition]["required"]:
            missing = {k: x for k, x in value.items() if k != field}
            assert not v.is_valid(missing), f"{definition} without {field} passed"
            if props[field]:  # an "any" field takes every type
                wrong = {**value, field: {"not": ["the", "right", "type"]}}
                assert not v.is_valid(wrong), f"{definition}.{field} as an object passed"
        assert not v.is_valid({**value, "no_such_field": 1}), f"{definition} with an extra field passed"
