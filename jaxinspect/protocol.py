"""The kernel ⇄ sidebar wire protocol, and the shape of every other jaxinspect wire.

What goes on a wire is defined once, in Python: the record dataclasses in ``records.py`` and the
message shapes below (``TypedDict`` s: the push/rpc messages, each RPC method's params and result,
the multi-process collector's lines and the in-cell monitor's messages). ``jaxinspect.schema``
generates from them the JSON schema ``jaxinspect/wire.schema.json`` and, through the npm
``json-schema-to-typescript``, the TypeScript types ``labextension/src/generated/wire.ts`` that
``labextension/src/protocol.ts`` re-exports; ``tests/test_schema.py`` regenerates both and fails on
any difference, and validates real records and messages against the schema.

To add a field: add it to the dataclass in ``records.py`` (or the TypedDict here), then run
``python -m jaxinspect.schema --write`` (or ``jlpm gen:schema``) and commit what it rewrote.

Two comm targets, both opened by the frontend:

- ``jaxinspect`` (push): the kernel answers the open with ``hello`` and then sends coalesced
  ``batch`` messages (at most ~10/s) from any thread. The frontend never sends on it.
- ``jaxinspect.rpc`` (requests): the frontend sends ``request``; the kernel answers ``response``.
  With ipykernel >= 7 and JupyterLab >= 4.4 these are handled on a subshell thread while a cell
  runs, so every method answers from snapshots and never touches live device state.

When ``%load_ext jaxinspect`` runs, the kernel opens a short-lived comm on target ``jaxinspect``
carrying ``announce`` and closes it at once; a frontend that sees it (re)opens its two comms.
Every message carries ``{"v": PROTOCOL_VERSION, "type": ...}``. A peer with another ``v`` gets an
``error`` with code ``version_mismatch`` and nothing else.

``SCHEMA`` is the compact form of the generated schema (field -> "int" | "float" | "str" | "bool"
| "any" | "T|null" | "list[T]" | "dict[str,T]" | "tuple[A,B]"), read from the committed
``wire.schema.json``; the TypeScript side exports the same object from its generated copy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, TypedDict

from .records import EnvRecord, Record, SessionRecord, StatusRecord

PROTOCOL_VERSION = 1
PUSH_TARGET = "jaxinspect"
RPC_TARGET = "jaxinspect.rpc"
SCHEMA_FILE = Path(__file__).with_name("wire.schema.json")

# Any record of ``records.py`` (the schema's ``AnyRecord``: one of every ``Record`` kind, or
# ``remote``); typed as the base class here, exact in the schema and in TypeScript.
AnyRecord = Record


# -- records that are built as dicts -------------------------------------------------------------


class RemoteRecord(TypedDict):
    """A record from process ``source`` (a ``process`` record's ``id``), as that process sent it;
    republished by the collector (``live.remote``), never applied to the kernel's own state."""

    kind: Literal["remote"]
    source: int
    process_index: int
    record: AnyRecord


# -- push comm (kernel -> frontend) and rpc comm ---------------------------------------------------


class OpenMessage(TypedDict):
    """frontend -> kernel: the comm_open data of both targets."""

    v: int
    type: Literal["open"]
    client: str


class AnnounceMessage(TypedDict):
    """kernel -> any frontend: jaxinspect was (re)loaded; (re)open the comms."""

    v: int
    type: Literal["announce"]
    jaxinspect_version: str


class HelloMessage(TypedDict):
    """kernel -> frontend, first on the push comm."""

    v: int
    type: Literal["hello"]
    session: SessionRecord
    env: EnvRecord
    status: StatusRecord


class BatchMessage(TypedDict):
    """kernel -> frontend: coalesced records (at most ~10 per second)."""

    v: int
    type: Literal["batch"]
    seq: int
    records: list[AnyRecord]
    dropped: dict[str, int]  # records of each kind dropped by the throttle since the last batch


class GoodbyeMessage(TypedDict):
    v: int
    type: Literal["goodbye"]
    reason: str


class ErrorMessage(TypedDict):
    v: int
    type: Literal["error"]
    code: str  # "version_mismatch", ...
    message: str


class RequestMessage(TypedDict):
    """frontend -> kernel on the rpc comm; the params of each method: ``METHODS``."""

    v: int
    type: Literal["request"]
    id: int
    method: str
    params: RpcParams


class ResponseMessage(TypedDict):
    """kernel -> frontend on the rpc comm; the result of each method: ``METHODS`` (null when
    ``ok`` is false: ``error`` says why)."""

    v: int
    type: Literal["response"]
    id: int
    ok: bool
    result: RpcResult | None
    error: str | None


# -- each rpc method's params and result ---------------------------------------------------------


class HelloResult(TypedDict):
    env: EnvRecord
    status: StatusRecord


class PingResult(TypedDict):
    time: float  # the kernel's clock (Unix seconds)
    # ping again within this many seconds: a quarter of ``config.sidebar_silence_s`` (at most
    # 20 s), so a sidebar is judged gone only after about four pings went unheard
    every_s: float


class SnapshotResult(TypedDict):
    records: dict[str, list[AnyRecord]]  # kind -> what the hub holds, oldest first


class CompileDiffParams(TypedDict):
    event_id: int  # a ``compile`` record's id


class CompileDiffResult(TypedDict):
    event_id: int
    ok: bool  # False: ``text`` says why there is no diff
    text: str
    headline: str


class InterestParams(TypedDict, total=False):
    buffers: float  # seconds between buffer snapshots (0: stop); left out: unchanged
    params: float  # seconds between samples of the watched trees


class InterestResult(TypedDict, total=False):
    buffers: float  # the interval in force (clamped)
    params: float


class TrackKeysParams(TypedDict):
    on: bool


class TrackKeysResult(TypedDict):
    tracking: bool
    on_reuse: Literal["warn", "error", "ignore"]


class ConfigureParams(TypedDict, total=False):
    """Settings the sidebar applies (Settings → jaxinspect); a setting left out: unchanged."""

    storm_threshold: int  # recompiles of one function that raise a "recompile storm" alert
    print_alerts: bool  # print each alert as one line in the cell's output (else: sidebar only)
    track_keys_on_load: bool  # start PRNG key tracking when jaxinspect loads (and now, if newly on)
    stuck_after_s: float  # seconds a process waits at one place before the Processes tab says stuck


#: the ``config`` settings ``configure`` may set (the keys of ``ConfigureParams``)
CONFIGURE_SETTINGS: tuple[str, ...] = tuple(ConfigureParams.__annotations__)


class ConfigureRefusal(TypedDict):
    setting: str  # the setting as sent
    message: str  # one line: what the setting takes, what was sent, the value kept


class ConfigureResult(TypedDict):
    applied: ConfigureParams  # each setting applied, with the value now in force
    refused: list[ConfigureRefusal]  # each setting not applied (its previous value stays)
    tracking: bool  # whether PRNG key tracking is on after the request


class StacksParams(TypedDict, total=False):
    timeout_s: float  # how long to wait for the answers (0 to 60; default 3)


class StacksResult(TypedDict):
    """The stacks themselves arrive with the next ``processes`` record (each process's
    ``stack``); this says whom it asked and who answered in time."""

    asked: list[int]  # connection ids of the processes asked (``process`` records' ``id``)
    answered: list[int]  # those whose fresh stack arrived within the timeout
    problems: list[str]  # one line each: a process that could not be asked, or no collector


class NoParams(TypedDict):
    """A method without parameters: the frontend sends ``{}``."""


RpcParams = NoParams | CompileDiffParams | InterestParams | TrackKeysParams | ConfigureParams | StacksParams
RpcResult = (
    HelloResult | PingResult | SnapshotResult | CompileDiffResult | InterestResult | TrackKeysResult
    | ConfigureResult | StacksResult
)

# method -> (params, result); the order is the ``methods`` list of SCHEMA
METHODS: dict[str, tuple[type, type]] = {
    "hello": (NoParams, HelloResult),
    "ping": (NoParams, PingResult),
    "snapshot": (NoParams, SnapshotResult),
    "compile_diff": (CompileDiffParams, CompileDiffResult),
    "interest": (InterestParams, InterestResult),
    "track_keys": (TrackKeysParams, TrackKeysResult),
    "configure": (ConfigureParams, ConfigureResult),
    "stacks": (StacksParams, StacksResult),
}

# message type -> shape, for ``message()`` and the schema
MESSAGES: dict[str, type] = {
    "open": OpenMessage,
    "announce": AnnounceMessage,
    "hello": HelloMessage,
    "batch": BatchMessage,
    "goodbye": GoodbyeMessage,
    "error": ErrorMessage,
    "request": RequestMessage,
    "response": ResponseMessage,
}


# -- the multi-process collector's lines (``live.remote``: one JSON object per line) ---------------


class ProcessIdentity(TypedDict, total=False):
    """Who a process of the job is (``collect.envlib.process_identity``); every key may be
    missing when the identity could not be read."""

    process_index: int
    process_count: int
    host: str
    pid: int
    jax_version: str | None
    backend: str | None
    devices: list[str]  # labels of the process's local devices
    engine_id: int | None  # the ipyparallel engine id, when the process is an engine
    doorbell: str | None  # the signal that asks the process for its main-thread stack now


class CollectorHello(ProcessIdentity):
    """sender -> collector, first."""

    v: int  # ``live.remote.WIRE_VERSION``
    type: Literal["hello"]
    token: str


class CollectorInfo(ProcessIdentity):
    """sender -> collector: the identity changed (e.g. ``jax.distributed`` started)."""

    type: Literal["info"]


class CollectorBatch(TypedDict):
    """sender -> collector: records of one hub batch (split into lines of about 1 MiB)."""

    type: Literal["batch"]
    dropped: int  # records dropped by the sender since its previous line
    records: list[AnyRecord]


class CollectorBye(TypedDict):
    type: Literal["bye"]


class CollectorWelcome(TypedDict):
    """collector -> sender, once, after an accepted hello."""

    type: Literal["welcome"]
    id: int  # the connection id (``process`` records' ``id``)


class CollectorError(TypedDict):
    """collector -> sender, once, instead of welcome; the connection then closes."""

    type: Literal["error"]
    message: str


class EnginePublication(TypedDict):
    """engine -> notebook through ipyparallel (``live.ippbridge``): the value of the key
    ``"jaxinspect"`` of a ``publish_data`` message. Each carries the engine's identity, as
    data messages reach only the clients listening at the time."""

    v: int  # ``live.remote.WIRE_VERSION``
    type: Literal["batch", "bye"]
    engine_id: int
    identity: ProcessIdentity
    dropped: int  # records dropped by the engine since its previous publication
    records: list[AnyRecord]


COLLECTOR_LINES: tuple[type, ...] = (
    EnginePublication,
    CollectorHello,
    CollectorInfo,
    CollectorBatch,
    CollectorBye,
    CollectorWelcome,
    CollectorError,
)


# -- the in-cell monitor (``glue.monitor`` -> ``glue/monitor_esm.js``) -------------------------------
# The widget's ``snapshot`` trait holds a ``MonitorSnapshot``; custom messages are
# ``MonitorDeltaMessage``: the same keys, each optional, carrying only what changed.


class MonitorStatus(TypedDict, total=False):  # empty before the first status record
    busy: bool
    execution_count: int
    cell_elapsed_s: float | None
    elapsed_text: str


class MonitorFunction(TypedDict):
    name: str
    compiles: int
    total_s: float
    total_text: str
    last_reason: str | None
    notes: list[str]  # the record's notes: lines shown under the function (compiled memory, ...)


class MonitorCompileEvent(TypedDict):
    id: int
    name: str
    total_s: float
    total_text: str
    reason: str
    call_site: str | None
    location: str  # "cell [5] line 3" in a notebook, else the call site


class MonitorAlert(TypedDict):
    level: Literal["nan", "compile", "memory", "keys"]
    message: str
    name: str


class MonitorDevice(TypedDict):
    device: str
    bytes: int
    bytes_in_use: int | None
    text: str  # the allocator's figure where there is one (not on CPU), else the arrays'


class MonitorOwner(TypedDict):
    name: str
    bytes: int
    arrays: int
    text: str


class MonitorMemory(TypedDict):
    bytes: int
    bytes_text: str
    arrays: int
    arrays_text: str
    devices: list[MonitorDevice]
    owners: list[MonitorOwner]


# NaN / Inf travel as the strings "NaN", "Inf", "-Inf" (JSON has no such numbers)
MonitorNumber = float | Literal["NaN", "Inf", "-Inf"]


class MonitorParams(TypedDict):
    step: int | None
    norm: MonitorNumber | None
    update: MonitorNumber | None
    nonfinite: int
    values: int
    norm_text: str
    update_text: str
    step_text: str
    nonfinite_text: str


class MonitorKeys(TypedDict):
    tracking: bool
    created: int
    derived: int
    consumed: int
    reuses: int
    text: str


class MonitorProcessRow(TypedDict):
    id: int
    process_index: int
    host: str
    pid: int
    state: str
    compiles: int
    bytes: int | None
    bytes_text: str
    arrays: int | None
    device_in_use: int | None
    in_use_text: str
    alerts: int
    last_recompile: str | None
    label: str  # "engine 0 · p0" or "p0"
    activity: str  # running, waiting, idle, stuck, silent, done, lost, ... (ProcessFacts.activity)
    activity_text: str  # "stuck 14 s at cell [3] line 7 (step)"
    stuck: bool


class MonitorDiffers(TypedDict):
    name: str
    counts: dict[str, int]  # process label ("p0", "engine 0 · p0") -> compiles
    message: str


class MonitorProcesses(TypedDict):
    rows: list[MonitorProcessRow]
    more: int
    differs: list[MonitorDiffers]
    diagnosis: str | None  # the stuck processes in one sentence (ProcessesRecord.diagnosis)


class MonitorCompiles(TypedDict):
    total: int
    functions: int
    text: str  # "12 compiles in 3 functions"
    top: list[str]  # fun_keys, the most compiled first (at most 8)


class MonitorSnapshot(TypedDict):
    """The monitor's whole state; a delta has the same keys, each optional."""

    status: MonitorStatus
    scalars: dict[str, list[tuple[int, MonitorNumber]]]  # name -> [step, value] (appended)
    functions: dict[str, MonitorFunction]  # fun_key -> row (replaced)
    compile_events: list[MonitorCompileEvent]  # appended
    alerts: list[MonitorAlert]  # appended
    memory: MonitorMemory | None
    memory_points: list[tuple[float, int]]  # [time, bytes] (appended)
    params: dict[str, MonitorParams]  # watch name -> row (replaced)
    # watch name -> [step, norm, update] (appended)
    param_points: dict[str, list[tuple[int | None, MonitorNumber | None, MonitorNumber | None]]]
    keys: MonitorKeys | None
    processes: MonitorProcesses | None
    more_scalars: int  # names logged beyond the first 16
    scalar_text: dict[str, str]  # the latest value of each curve, as shown
    compiles: MonitorCompiles | None  # totals over ``functions``, the most compiled first
    updates: int


class MonitorDelta(MonitorSnapshot, total=False):
    """What changed since the previous monitor message: the keys of ``MonitorSnapshot``, each
    optional (lists and points are appended, rows replaced by key)."""


class MonitorDeltaMessage(TypedDict):
    """kernel -> widget (anywidget custom message), at most ~10 per second."""

    type: Literal["delta"]
    delta: MonitorDelta


# -- the compact SCHEMA (read from the generated JSON schema) --------------------------------------

_compact: dict[str, Any] | None = None


def wire_schema() -> dict[str, Any]:
    """The committed JSON schema (``jaxinspect/wire.schema.json``)."""
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def _type_string(prop: dict[str, Any], names: dict[str, str]) -> str:
    """One property of the JSON schema as a compact type string."""
    if "$ref" in prop:
        return names.get(prop["$ref"].rsplit("/", 1)[-1], "any")
    for union in ("anyOf", "oneOf"):
        if union in prop:
            options = [o for o in prop[union] if o.get("type") != "null"]
            nullable = len(options) < len(prop[union])
            inner = _type_string(options[0], names) if len(options) == 1 else "any"
            return f"{inner}|null" if nullable and inner != "any" else inner
    if "const" in prop or "enum" in prop:
        values = prop.get("enum", [prop.get("const")])
        return "str" if all(isinstance(v, str) for v in values) else "any"
    types = prop.get("type")
    if isinstance(types, list):
        inner = [t for t in types if t != "null"]
        base = _type_string({**prop, "type": inner[0]}, names) if len(inner) == 1 else "any"
        return f"{base}|null" if "null" in types else base
    if types == "array":
        items = prop.get("items", {})
        if isinstance(items, list):
            return f"tuple[{','.join(_type_string(i, names) for i in items)}]"
        return f"list[{_type_string(items, names)}]"
    if types == "object" and isinstance(prop.get("additionalProperties"), dict):
        return f"dict[str,{_type_string(prop['additionalProperties'], names)}]"
    scalars = {"integer": "int", "number": "float", "string": "str", "boolean": "bool"}
    return scalars.get(types, "any")


def compact_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``SCHEMA`` from the JSON schema: messages and records as {field: type string}; record
    kinds by their ``kind``, record parts by their class name less a ``Record`` suffix."""
    defs = schema["definitions"]
    names = {defname: short for short, defname in schema["x-records"].items()}

    def fields(defname: str, skip: tuple[str, ...] = ()) -> dict[str, str]:
        props = defs[defname].get("properties", {})
        return {k: _type_string(v, names) for k, v in props.items() if k not in skip}

    return {
        "version": PROTOCOL_VERSION,
        "targets": {"push": PUSH_TARGET, "rpc": RPC_TARGET},
        "messages": {t: fields(d, ("v", "type")) for t, d in schema["x-messages"].items()},
        "methods": list(schema["x-methods"]),
        "records": {short: fields(d) for short, d in schema["x-records"].items()},
    }


def __getattr__(name: str) -> Any:
    global _compact
    if name == "SCHEMA":
        if _compact is None:
            _compact = compact_schema(wire_schema())
        return _compact
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ProtocolError(ValueError):
    """A message that does not follow its shape in ``MESSAGES``."""


def message(type_: str, **fields: Any) -> dict[str, Any]:
    """Build a wire message of ``type_``; raises ProtocolError on unknown types or missing fields."""
    spec = MESSAGES.get(type_)
    if spec is None:
        raise ProtocolError(f"unknown message type {type_!r}")
    missing = [k for k in spec.__required_keys__ if k not in ("v", "type") and k not in fields]
    if missing:
        raise ProtocolError(f"message {type_!r} is missing {', '.join(missing)}")
    return {"v": PROTOCOL_VERSION, "type": type_, **fields}


def check_version(data: Any) -> str | None:
    """Return None when ``data`` speaks our protocol version, else a message saying what to do."""
    if not isinstance(data, dict) or "v" not in data:
        return (
            "jaxinspect: the frontend sent a message without a protocol version; "
            "update the jaxinspect JupyterLab extension (pip install -U jaxinspect) and reload the page."
        )
    v = data.get("v")
    if v != PROTOCOL_VERSION:
        return (
            f"jaxinspect: the JupyterLab extension speaks protocol v{v} but this kernel's "
            f"jaxinspect speaks v{PROTOCOL_VERSION}; install the same jaxinspect version in the "
            "kernel's environment and in JupyterLab's, then restart the kernel and reload the page."
        )
    return None
