"""Records: frozen, JSON-ready snapshots of what jaxinspect observed. No live JAX objects inside.

Every record has a ``kind`` (the hub's ring-buffer key and the wire's ``kind`` field) and a
``to_json()`` with every field. These dataclasses are the wire's one source of truth: the JSON
schema (``jaxinspect/wire.schema.json``) and the TypeScript types are generated from them. After
adding or changing a field (its annotation is its JSON type; a trailing ``# comment`` its
description), run ``python -m jaxinspect.schema --write`` and commit what it rewrote;
``tests/test_schema.py`` fails until then, and fails for a new record without a real case.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

from . import units

MAX_DEVICES_IN_RECORD = 256


def _derived(default: Any = "") -> Any:
    """A field computed from the record's own data in ``__post_init__`` (never passed in, kept
    by ``dataclasses.replace``-made copies up to date): the text the sidebar and the monitor
    display as it arrives, formatted once by ``units``."""
    return dataclasses.field(init=False, default=default)


def _set(obj: Any, **values: Any) -> None:
    for name, value in values.items():
        object.__setattr__(obj, name, value)


def _jsonify(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonify(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_jsonify(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonify(v) for k, v in value.items()}
    return value


@dataclasses.dataclass(frozen=True)
class Record:
    """Base class: ``kind`` names the record type on the wire and in the hub."""

    kind: ClassVar[str] = "record"

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready dict, with ``kind`` first."""
        return {"kind": self.kind, **_jsonify(self)}


@dataclasses.dataclass(frozen=True)
class DeviceRecord:
    """One JAX device as seen from this process."""

    id: int
    platform: str
    device_kind: str
    process_index: int
    label: str

    def to_json(self) -> dict[str, Any]:
        return _jsonify(self)


@dataclasses.dataclass(frozen=True)
class SessionRecord:
    """Who is speaking on the kernel side of the wire."""

    jaxinspect_version: str
    protocol: int
    pid: int
    python_version: str

    def to_json(self) -> dict[str, Any]:
        return _jsonify(self)


@dataclasses.dataclass(frozen=True)
class EnvRecord(Record):
    """Versions, backend and devices of the kernel. ``backend`` is None until JAX starts one."""

    kind: ClassVar[str] = "env"
    jax_version: str | None
    jaxlib_version: str | None
    flax_version: str | None
    python_version: str
    backend: str | None
    backend_initialized: bool
    process_index: int
    process_count: int
    devices: tuple[DeviceRecord, ...]
    device_count: int
    note: str | None = None


@dataclasses.dataclass(frozen=True)
class StatusRecord(Record):
    """The heartbeat: is the kernel busy, and how much has jaxinspect recorded so far."""

    kind: ClassVar[str] = "status"
    seq: int
    time: float
    busy: bool
    execution_count: int
    cell_elapsed_s: float | None
    events_total: int
    events_by_kind: dict[str, int]
    subscribers: int
    internal_errors: int
    cell_elapsed_text: str = _derived()  # "–" while idle

    def __post_init__(self) -> None:
        _set(self, cell_elapsed_text=units.human_duration(self.cell_elapsed_s))


@dataclasses.dataclass(frozen=True)
class InternalErrorRecord(Record):
    """An exception jaxinspect caught in one of its own hooks, shown once with a count."""

    kind: ClassVar[str] = "internal_error"
    where: str
    message: str
    count: int


@dataclasses.dataclass(frozen=True, slots=True)
class Location:
    """A place in the user's code, built once in the kernel (``compilelib.locate``): a notebook
    cell's line (``cell`` set, ``path`` None: never the kernel's temp file) or a file's line.
    The sidebar and HTML outputs show ``text``, the line's ``code`` on hover, and scroll the
    notebook to the cell when it is clicked."""

    cell: int | None  # execution count of the notebook cell, or None outside a notebook cell
    line: int | None  # 1-based line in the cell or file, None when unknown
    code: str | None  # the source line's text (stripped, at most 200 characters), or None
    path: str | None  # the file outside a notebook cell; None for a cell
    text: str = _derived()  # "cell [5] line 3" in a notebook, else "model.py:12"

    def __post_init__(self) -> None:
        _set(self, text=units.place(self.cell, self.line, self.path))

    def to_json(self) -> dict[str, Any]:
        return _jsonify(self)


@dataclasses.dataclass(frozen=True)
class Reason:
    """Why a call missed jit's cache: which argument (``path``) and what changed.

    ``kind`` is one of: first_call, redefined, rewrapped, shape, dtype, weak_type, structure,
    static, static_part (a static field of a model / pytree argument), class (a model class
    changed or was re-defined), metadata (an NNX variable's metadata), partial (a new
    functools.partial jitted), body (an un-jitted loop's body traced to another program),
    sharding, context, unknown, more.
    """

    kind: str
    path: str | None
    before: str | None
    after: str | None
    message: str
    recreated: bool = False
    # one line per difference when ``message`` summarises many (bounded; "… N more" last)
    details: tuple[str, ...] = ()
    label: str = _derived()  # ``kind`` as users read it ("static_part" -> "static field")

    def __post_init__(self) -> None:
        _set(self, label=units.reason_label(self.kind))

    def to_json(self) -> dict[str, Any]:
        return _jsonify(self)


@dataclasses.dataclass(frozen=True)
class CompileEvent(Record):
    """One jitted call that missed the cache: its trace / lowering / backend-compile phases."""

    kind: ClassVar[str] = "compile"
    id: int
    fun_key: str  # stable per function; keys compile_stats
    fun_name: str
    defined_at: str | None  # "file:line" of the function's definition
    call_site: str | None  # "file:line" of the call that compiled
    cell: int | None  # notebook execution count of the cell that made the call, or None
    trace_s: float | None
    lower_s: float | None
    compile_s: float | None
    total_s: float
    persistent_cache: Literal["hit", "miss"] | None  # None when the persistent cache is off
    time: float  # Unix seconds
    thread: str
    process_index: int
    internal: bool  # a JAX-internal eager compile (e.g. broadcast_in_dim); hidden by default
    parent: str | None  # traced while tracing this function (nested jit)
    api: Literal["call", "trace"]  # "call" (a call that compiled), "trace" (jit(f).trace/lower/eval_shape)
    signature: str  # short text of the argument types
    reasons: tuple[Reason, ...]
    # each output's sharding as jit was told or the explicit mesh says ("unspecified": XLA picks)
    out_shardings: tuple[str, ...] = ()
    # what the executable XLA built (or loaded from the persistent cache) for this call needs;
    # None when nothing was compiled (a trace only) or the compile path could not be watched
    memory: CompiledMemory | None = None
    call: Location | None = None  # the call site as a place (cell and line, the line's code)
    defined: Location | None = None  # where the function is defined, as a place
    location: str = _derived()  # "cell [5] line 3" in a notebook, else the call site
    trace_text: str = _derived()
    lower_text: str = _derived()
    compile_text: str = _derived()
    total_text: str = _derived()
    # a recompile of a jitted function (not a first call, not JAX-internal, not an un-jitted
    # loop body): there is a previous trace to diff the jaxpr against
    diffable: bool = _derived(False)

    def __post_init__(self) -> None:
        _set(
            self,
            location=units.location(self.call_site, self.cell),
            trace_text=units.human_duration(self.trace_s),
            lower_text=units.human_duration(self.lower_s),
            compile_text=units.human_duration(self.compile_s),
            total_text=units.human_duration(self.total_s),
            diffable=bool(self.reasons)
            and not self.internal
            and not self.fun_key.startswith("<eager>.")
            and all(r.kind != "first_call" for r in self.reasons),
        )


@dataclasses.dataclass(frozen=True)
class FunctionCompileStats(Record):
    """Exact per-function aggregates over the whole session (or one profile)."""

    kind: ClassVar[str] = "compile_stats"
    fun_key: str
    fun_name: str
    defined_at: str | None
    internal: bool
    compiles: int
    trace_s: float
    lower_s: float
    compile_s: float
    total_s: float
    reasons: dict[str, int]  # compile counts by reason kind
    last_reasons: tuple[Reason, ...]
    last_time: float
    # compiled memory: the latest compile's and the largest temporaries of any compile
    memory: CompiledMemory | None = None
    peak_temp_bytes: int | None = None
    defined: Location | None = None  # where the function is defined, as a place
    total_text: str = _derived()
    reasons_text: str = _derived()  # "shape ×4, first call ×1", most frequent first
    memory_text: str | None = _derived(None)  # the latest compile's memory, largest temporaries
    # lines shown under the function in the sidebar's Compiles tab and the monitor: a capability
    # that knows more about a function adds its line here and neither view needs a change
    notes: tuple[str, ...] = _derived(())

    def __post_init__(self) -> None:
        memory_text = (
            compiled_memory_text(self.memory, self.peak_temp_bytes) if self.memory else None
        )
        _set(
            self,
            total_text=units.human_duration(self.total_s),
            reasons_text=units.reasons_summary(self.reasons),
            memory_text=memory_text,
            notes=(f"compiled: {memory_text}",) if memory_text else (),
        )


@dataclasses.dataclass(frozen=True)
class CompileAlert(Record):
    """A function that keeps recompiling, with the one-line fix for its dominant reason; or
    (``reason_kind`` "memory") one whose compiled temporaries alone exceed
    ``config.temp_memory_share`` of its device's memory limit."""

    kind: ClassVar[str] = "compile_alert"
    fun_key: str
    fun_name: str
    compiles: int
    reason_kind: str
    message: str
    hint: str
    time: float


@dataclasses.dataclass(frozen=True)
class CompiledMemory:
    """What XLA says one compiled program needs per device (``Compiled.memory_analysis()`` and
    ``cost_analysis()``), and the device's memory limit. A number the backend did not report is
    None (never 0)."""

    argument_bytes: int | None
    output_bytes: int | None
    alias_bytes: int | None  # outputs that reuse (donated) argument buffers
    temp_bytes: int | None  # scratch the program allocates while it runs
    generated_code_bytes: int | None
    flops: float | None
    bytes_accessed: float | None
    # ``Device.memory_stats()['bytes_limit']`` (the smallest of the program's devices); None
    # where the backend reports none (CPU)
    device_limit_bytes: int | None
    platform: str | None
    text: str = _derived()  # the numbers as one line, formatted once by ``units``

    def __post_init__(self) -> None:
        _set(self, text=compiled_memory_text(self))

    @property
    def temp_share(self) -> float | None:
        """Temporaries as a share of the device's memory limit; None when either is unknown."""
        if self.temp_bytes is None or not self.device_limit_bytes:
            return None
        return self.temp_bytes / self.device_limit_bytes

    def to_json(self) -> dict[str, Any]:
        return _jsonify(self)


NOT_REPORTED = "not reported by the backend"


def device_limit_text(limit: int | None, platform: str | None) -> str:
    """``"device limit 80.0 GiB"``, or ``"no device limit reported (cpu)"``."""
    if limit:
        return f"device limit {units.human_bytes(limit)}"
    return f"no device limit reported ({platform or 'unknown backend'})"


def compiled_memory_text(m: CompiledMemory, peak_temp: int | None = None) -> str:
    """One line: temporaries (and their share of the limit), arguments, outputs, aliased, code,
    flops and bytes accessed; what the backend did not report is said, never shown as 0."""
    sizes = (
        ("temporaries", m.temp_bytes),
        ("arguments", m.argument_bytes),
        ("outputs", m.output_bytes),
        ("aliased", m.alias_bytes),
        ("code", m.generated_code_bytes),
    )
    if all(v is None for _, v in sizes):
        parts = [f"memory {NOT_REPORTED}"]
    else:
        parts = []
        for label, v in sizes:
            text = f"{label} {units.human_bytes(v)}" if v is not None else f"{label} {NOT_REPORTED}"
            if label == "temporaries" and v is not None:
                share = m.temp_share
                if share is not None:
                    text += f" ({share:.0%} of the limit)"
                if peak_temp is not None and peak_temp > v:
                    text += f", largest {units.human_bytes(peak_temp)}"
            parts.append(text)
    if m.flops is not None:
        parts.append(units.human_flops(m.flops))
    if m.bytes_accessed is not None:
        parts.append(f"{units.human_bytes(m.bytes_accessed)} accessed")
    if m.flops is None and m.bytes_accessed is None:
        parts.append(f"cost {NOT_REPORTED}")
    parts.append(device_limit_text(m.device_limit_bytes, m.platform))
    return " · ".join(parts)


# -- jaxprs (``%jaxpr``) ---------------------------------------------------------------------
# Variables are (name, type) pairs; operands are (text, type, is_literal). Names are assigned by
# jaxinspect (a, b, ..., z, ba, ...) in binding order and are unique across one JaxprDoc, so a
# name identifies one variable everywhere in the view (search, hover, diff).


@dataclasses.dataclass(frozen=True, slots=True)
class JaxprEqn:
    """One equation: ``outs = prim[params] ins``, with nested bodies as indices into the doc."""

    prim: str
    outs: tuple[tuple[str, str], ...]
    ins: tuple[tuple[str, str, bool], ...]
    params: tuple[tuple[str, str], ...]
    subs: tuple[tuple[str, int], ...]  # (param label, e.g. "branches[1]", index of the body)
    scope: tuple[str, ...]  # name stack, e.g. ("jvp(MLP)", "Dense_0")
    source: str | None  # "cell [3] line 5 (loss)" / "pkg/model.py:12 (apply)" when asked for
    tag: str | None  # "random" | "callback" | "convert" | None

    def to_json(self) -> dict[str, Any]:
        return {
            "prim": self.prim,
            "outs": [list(o) for o in self.outs],
            "ins": [list(i) for i in self.ins],
            "params": dict(self.params),
            "subs": [list(s) for s in self.subs],
            "scope": list(self.scope),
            "source": self.source,
            "tag": self.tag,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class JaxprBody:
    """One jaxpr (the top level or a nested one). ``uses`` > 1: shared, shown once as a ``let``."""

    index: int
    name: str  # the jit name for a nested pjit, else the owning primitive, e.g. "scan.jaxpr"
    consts: tuple[tuple[str, str], ...]
    invars: tuple[tuple[str, str], ...]
    outvars: tuple[tuple[str, str, bool], ...]
    eqns: tuple[JaxprEqn, ...]
    uses: int
    depth: int
    total: int  # equations inside, nested bodies included (each body counted once)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "consts": [list(c) for c in self.consts],
            "invars": [list(v) for v in self.invars],
            "outvars": [list(v) for v in self.outvars],
            "eqns": [e.to_json() for e in self.eqns],
            "uses": self.uses,
            "depth": self.depth,
            "total": self.total,
        }


@dataclasses.dataclass(frozen=True)
class JaxprStats(Record):
    """The summary header of a jaxpr view."""

    kind: ClassVar[str] = "jaxpr_stats"
    equations: int  # every body counted once
    top_level: int
    by_primitive: tuple[tuple[str, int], ...]  # most frequent first
    bodies: int  # nested jaxprs (shared ones once)
    shared: int  # nested jaxprs used more than once
    max_depth: int
    inputs: tuple[tuple[str, str], ...]  # (label, type) of the top-level inputs
    outputs: tuple[tuple[str, str], ...]
    consts: tuple[tuple[str, str, int], ...]  # (name, type, bytes) of closed-over constants
    flagged: tuple[tuple[str, int], ...]  # ("random", 3), ("callback", 1), ("convert", 7)

    def count(self, prim: str) -> int:
        """How many equations of primitive ``prim`` (nested ones included)."""
        return dict(self.by_primitive).get(prim, 0)


@dataclasses.dataclass(frozen=True)
class JaxprDoc(Record):
    """A traced program as jaxinspect shows it: bodies[0] is the top level."""

    kind: ClassVar[str] = "jaxpr"
    title: str
    bodies: tuple[JaxprBody, ...]
    stats: JaxprStats
    keys: KeyFlow | None = None
    # each equation's ``source`` text -> that place (cell, line, the line's code)
    places: dict[str, Location] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "bodies": [b.to_json() for b in self.bodies],
            "stats": self.stats.to_json(),
            "keys": self.keys.to_json() if self.keys is not None else None,
            "places": {text: loc.to_json() for text, loc in self.places.items()},
        }


@dataclasses.dataclass(frozen=True)
class CostRecord(Record):
    """XLA's cost and memory analysis of one compiled program; None where XLA gave nothing."""

    kind: ClassVar[str] = "jaxpr_cost"
    flops: float | None
    transcendentals: float | None
    bytes_accessed: float | None
    optimal_seconds: float | None
    argument_bytes: int | None
    output_bytes: int | None
    temp_bytes: int | None
    alias_bytes: int | None
    generated_code_bytes: int | None
    backend: str | None
    note: str | None  # why something is unavailable


@dataclasses.dataclass(frozen=True, slots=True)
class JaxprDiffRow:
    """One aligned row: equation ``a`` of the first program vs ``b`` of the second (top level).
    ``status``: same | changed | added | removed; ``what`` says what changed (types, params,
    literals, nested)."""

    status: str
    a: int | None
    b: int | None
    what: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class JaxprIODiff:
    """An input or output slot of both programs: label and type on each side (None: absent)."""

    status: str
    label: str
    a: str | None
    b: str | None


@dataclasses.dataclass(frozen=True)
class JaxprDiff(Record):
    kind: ClassVar[str] = "jaxpr_diff"
    a: JaxprDoc
    b: JaxprDoc
    inputs: tuple[JaxprIODiff, ...]
    outputs: tuple[JaxprIODiff, ...]
    rows: tuple[JaxprDiffRow, ...]

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    @property
    def identical(self) -> bool:
        return all(r.status == "same" for r in self.rows) and all(
            io.status == "same" for io in (*self.inputs, *self.outputs)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "a": self.a.to_json(),
            "b": self.b.to_json(),
            "inputs": [_jsonify(i) for i in self.inputs],
            "outputs": [_jsonify(o) for o in self.outputs],
            "rows": [_jsonify(r) for r in self.rows],
        }


# -- device buffers --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceMemory:
    """One device's share of the live arrays, and what its allocator says (None on CPU)."""

    device: str  # a label such as "cpu:0" or "cuda:0"
    id: int
    platform: str
    arrays: int  # live arrays with a shard on this device
    bytes: int  # bytes of live arrays on this device
    bytes_in_use: int | None
    peak_bytes_in_use: int | None
    bytes_limit: int | None
    bytes_text: str = _derived()
    in_use_text: str = _derived()  # "–" where the allocator says nothing (CPU)
    peak_text: str = _derived()
    limit_text: str = _derived()

    def __post_init__(self) -> None:
        _set(
            self,
            bytes_text=units.human_bytes(self.bytes),
            in_use_text=units.human_bytes(self.bytes_in_use),
            peak_text=units.human_bytes(self.peak_bytes_in_use),
            limit_text=units.human_bytes(self.bytes_limit),
        )

    def to_json(self) -> dict[str, Any]:
        return _jsonify(self)


@dataclasses.dataclass(frozen=True, slots=True)
class BufferGroup:
    """Arrays grouped by holder, creation site or dtype."""

    name: str
    arrays: int
    bytes: int
    example: str  # one array of the group, e.g. "f32[1024,1024]"
    site: str | None  # creation site, or None when unknown
    at: Location | None = None  # the creation site as a place (cell, line, the line's code)
    bytes_text: str = _derived()

    def __post_init__(self) -> None:
        _set(self, bytes_text=units.human_bytes(self.bytes))

    def to_json(self) -> dict[str, Any]:
        return _jsonify(self)


@dataclasses.dataclass(frozen=True, slots=True)
class ArrayRow:
    """One live array: metadata only (the array itself is never referenced)."""

    id: int
    type: str  # "f32[1024,1024]"
    dtype: str
    shape: tuple[int, ...]
    bytes: int  # logical
    device_bytes: int  # summed over the devices holding a shard (replicas count)
    devices: tuple[str, ...]
    n_devices: int
    sharding: str
    committed: bool
    deleted: bool
    owner: str | None
    site: str | None

    def to_json(self) -> dict[str, Any]:
        return _jsonify(self)


@dataclasses.dataclass(frozen=True, slots=True)
class ShardRecord:
    """One block of an array on one device; ``replica`` > 0 for copies of the same block."""

    device: str
    device_id: int
    bounds: tuple[tuple[int, int], ...]
    shape: tuple[int, ...]
    bytes: int
    replica: int

    def to_json(self) -> dict[str, Any]:
        return _jsonify(self)


@dataclasses.dataclass(frozen=True)
class BuffersRecord(Record):
    """A summary of one snapshot of the live arrays (what the sidebar's Buffers tab shows)."""

    kind: ClassVar[str] = "buffers"
    seq: int
    time: float  # Unix seconds
    trigger: Literal["sampler", "cell", "api"]
    arrays: int
    bytes: int  # logical bytes of all live arrays
    device_bytes: int  # bytes held on devices (every shard counted)
    deleted: int  # arrays deleted but still referenced
    devices: tuple[DeviceMemory, ...]
    dtypes: tuple[BufferGroup, ...]
    owners: tuple[BufferGroup, ...]
    sites: tuple[BufferGroup, ...]
    unowned: BufferGroup  # arrays no variable holds
    attributed: bool  # whether the owner walk ran for this snapshot
    partial: bool  # whether the owner walk stopped at its budget
    took_s: float
    interval_s: float | None  # the sampler's interval, or None when it is off
    bytes_text: str = _derived()
    device_bytes_text: str = _derived()
    took_text: str = _derived()

    def __post_init__(self) -> None:
        _set(
            self,
            bytes_text=units.human_bytes(self.bytes),
            device_bytes_text=units.human_bytes(self.device_bytes),
            took_text=units.human_duration(self.took_s),
        )


@dataclasses.dataclass(frozen=True)
class BufferAlert(Record):
    """A holder or creation site whose arrays kept growing over several snapshots."""

    kind: ClassVar[str] = "buffer_alert"
    id: int
    time: float
    group: Literal["owner", "site"]
    name: str
    arrays_delta: int
    bytes_delta: int
    snapshots: int  # over how many snapshots it grew
    message: str
    hint: str


# -- parameter trees --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ParamLeaf:
    """One leaf of a parameter tree (metadata only)."""

    path: str  # ".blocks[0].lin.kernel" / "['params']['Dense_0']['kernel']"
    components: tuple[str, ...]
    kind: str  # Param, BatchStat, RngState, OptState, ... ("leaf" for a plain pytree)
    shape: tuple[int, ...]
    dtype: str
    size: int
    bytes: int
    sharding: str | None

    def to_json(self) -> dict[str, Any]:
        return _jsonify(self)


@dataclasses.dataclass(frozen=True, slots=True)
class ParamStats:
    """Statistics of one leaf (finite values only for mean/std/min/max; None when the leaf has
    no finite value; ``norm`` is None when any value is NaN/Inf: the norm is not a number)."""

    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    norm: float | None
    zeros: float  # fraction of exact zeros
    nan: int
    inf: int

    def to_json(self) -> dict[str, Any]:
        return _jsonify(self)


@dataclasses.dataclass(frozen=True, slots=True)
class ParamLayer:
    """One module of a watched tree (its leaves' path minus the last component)."""

    path: str
    leaves: int
    values: int
    norm: float | None  # None when a value is NaN/Inf
    update: float | None
    nan: int
    inf: int
    mean: float | None = 0.0  # over the module's finite values (None: there is none)
    std: float | None = 0.0
    min: float | None = 0.0
    max: float | None = 0.0
    zeros: float = 0.0  # fraction of exact zeros
    values_text: str = _derived()
    norm_text: str = _derived()  # "NaN" / "inf" when its values are not finite
    update_text: str = _derived()
    # "mean 0.01 · std 0.2 · min -1.3 · max 1.2 · zeros 0%"; "" without finite values
    stats_text: str = _derived()

    def __post_init__(self) -> None:
        n = units.human_norm
        _set(
            self,
            values_text=units.human_count(self.values),
            norm_text=n(self.norm, self.nan, self.inf),
            update_text=units.human_ratio(self.update),
            stats_text=""
            if self.mean is None
            else f"mean {n(self.mean)} · std {n(self.std)} · min {n(self.min)} · "
            f"max {n(self.max)} · zeros {100 * (self.zeros or 0):.0f}%",
        )

    def to_json(self) -> dict[str, Any]:
        return _jsonify(self)


@dataclasses.dataclass(frozen=True)
class ParamWatchRecord(Record):
    """One sample of a watched parameter tree."""

    kind: ClassVar[str] = "params_watch"
    name: str
    seq: int  # per name, increasing
    step: int | None  # the training step passed to watch(), or None
    time: float  # Unix seconds
    leaves: int
    values: int
    norm: float | None  # None when a value is NaN/Inf: the norm is not a number
    update: float | None  # ‖Δθ‖/‖θ‖ since the previous sample (sketch estimate)
    nonfinite: int  # leaves holding NaN or Inf
    layers: tuple[ParamLayer, ...]
    more_layers: int  # modules left out of ``layers``
    took_s: float
    interval_s: float | None
    note: str | None
    values_text: str = _derived()
    norm_text: str = _derived()  # "NaN" when a value is NaN/Inf (the norm is not a number)
    update_text: str = _derived()
    took_text: str = _derived()

    def __post_init__(self) -> None:
        _set(
            self,
            values_text=units.human_count(self.values),
            norm_text=units.human_norm(self.norm, nan=self.nonfinite),
            update_text=units.human_ratio(self.update),
            took_text=units.human_duration(self.took_s),
        )


@dataclasses.dataclass(frozen=True)
class ParamAlert(Record):
    """A watched tree turned NaN/Inf: the first non-finite step (every ``watch()`` call is
    checked exactly unless ``checked`` says otherwise), the last finite one, and the leaves that
    were non-finite at that step. ``cause`` names the operation and line that made the first NaN
    once ``nan_guard`` replayed the step (a later record with the same id)."""

    kind: ClassVar[str] = "params_alert"
    id: int
    time: float
    name: str
    step: int | None  # the first non-finite step (None: watch() was called without steps)
    path: str  # the first non-finite leaf in tree order at that step
    nan: int  # NaN values at that step, over its non-finite leaves
    inf: int
    message: str
    hint: str
    last_finite_step: int | None = None
    bad_leaves: int = 0
    total_leaves: int = 0
    leaves: tuple[str, ...] = ()  # non-finite leaves at that step (at most 8)
    checked: str = ""  # which calls the exact check saw
    cause: str | None = None
    watched_at: Location | None = None  # the watch() call that logged the values (its line)
    cause_at: Location | None = None  # the user's line ``cause`` names, once nan_guard replayed
    headline: str = _derived()  # ``message`` without the cause appended to it (shown apart)
    # "3 of 120 leaves non-finite" / "all 120 leaves non-finite"; None when not counted
    leaves_text: str | None = _derived(None)

    def __post_init__(self) -> None:
        suffix = f". Cause: {self.cause}" if self.cause else ""
        headline = self.message
        if suffix and headline.endswith(suffix):
            headline = headline[: -len(suffix)]
        bad, total = self.bad_leaves, self.total_leaves
        if total <= 0:
            leaves = None
        elif bad == total and total > 1:
            leaves = f"all {total} leaves non-finite"
        else:
            leaves = f"{bad} of {total} leaves non-finite"
        _set(self, headline=headline, leaves_text=leaves)


# -- PRNG keys -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class KeyNodeRecord:
    """One key in the lineage tree, as a row: ``depth`` is its indentation once chains of
    ``key, sub = split(key)`` are flattened; ``folded`` counts descendants not shown."""

    id: int
    parent: int | None  # the key it was derived from, or None for a root
    depth: int
    op: str  # e.g. "key", "PRNGKey", "split", "fold_in", "clone"
    label: str
    typed: bool  # a typed key (jax.random.key) rather than a raw uint32 one
    site: str | None
    state: Literal["fresh", "consumed", "split", "reused"]
    uses: int  # sampler uses
    used_by: tuple[str, ...]
    folded: int  # descendants hidden under this row


@dataclasses.dataclass(frozen=True)
class KeyCount:
    """How often one sampler (at one site) consumed a key."""

    name: str
    site: str | None
    count: int


@dataclasses.dataclass(frozen=True)
class KeysRecord(Record):
    """The PRNG key lineage seen while ``track_keys`` was on."""

    kind: ClassVar[str] = "keys"
    seq: int
    time: float  # Unix seconds
    tracking: bool
    on_reuse: Literal["warn", "error", "ignore"]
    created: int  # root keys made
    derived: int  # split / fold_in / clone outputs
    consumed: int  # sampler uses
    reuses: int
    summarised: int  # old keys dropped from the tree, only counted
    nodes: tuple[KeyNodeRecord, ...]
    more_nodes: int  # rows not sent
    consumers: tuple[KeyCount, ...]
    note: str | None
    # each site the rows and consumers name -> that place (cell, line, the line's code)
    places: dict[str, Location] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class KeyReuse(Record):
    """A key used twice: seen at run time (``where="eager"``) or read from a traced jaxpr
    (``where="jit"``, ``function`` names the jitted function)."""

    kind: ClassVar[str] = "key_reuse"
    id: int
    time: float
    where: Literal["eager", "jit"]
    reuse: str
    key: str
    function: str | None
    first_op: str
    first_site: str | None
    second_op: str
    second_site: str | None
    path: tuple[str, ...]  # lineage root -> key
    count: int  # how often it happened
    message: str
    hint: str
    first_at: Location | None = None  # the first use's place (cell, line, code)
    second_at: Location | None = None  # the second use's place
    first_use: str = _derived()  # "normal @ cell [3] line 5"
    second_use: str = _derived()

    def __post_init__(self) -> None:
        _set(
            self,
            first_use=units.key_use(self.first_op, self.first_site),
            second_use=units.key_use(self.second_op, self.second_site),
        )


@dataclasses.dataclass(frozen=True)
class KeyFinding:
    """A key reuse read statically from a jaxpr (before anything runs)."""

    reuse: str
    key: str
    first_op: str
    first_site: str | None
    second_op: str
    second_site: str | None
    message: str


@dataclasses.dataclass(frozen=True)
class KeyFlow(Record):
    """Where a traced program creates, splits and consumes PRNG keys. ``marks`` are
    (body index, equation index, note) for the jaxpr view; ``keys`` names the key inputs."""

    kind: ClassVar[str] = "key_flow"
    inputs: tuple[str, ...]
    splits: int
    folds: int
    consumes: int
    findings: tuple[KeyFinding, ...]
    marks: tuple[tuple[int, int, str], ...]
    partial: bool


# -- processes of a multi-process job ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ProcessRecord(Record):
    """One process publishing to this kernel's collector (``jaxinspect.collect_processes``)."""

    kind: ClassVar[str] = "process"
    id: int  # the connection, unique even if two processes claim the same index
    process_index: int  # jax.process_index() of the process
    process_count: int
    host: str
    pid: int
    # done: it said goodbye (closed its connection, exited, its engine shut down); lost: it
    # went away without one (killed, crashed, its engine died)
    state: Literal["connected", "done", "lost"]
    connected_at: float  # Unix seconds
    last_seen: float  # Unix seconds of the last message from the process
    records: int  # records the collector received from the process
    dropped: int  # records the process or the collector dropped
    jax_version: str | None
    backend: str | None
    devices: tuple[str, ...]  # labels of the process's devices
    note: str | None = None
    engine_id: int | None = None  # the ipyparallel engine id (None: not an engine)
    transport: Literal["loopback", "ipyparallel"] = "loopback"  # how its records arrive
    doorbell: str | None = None  # the signal that asks it for its main-thread stack now
    label: str = _derived()  # "engine 0 · p0" for an ipyparallel engine, else "p0"

    def __post_init__(self) -> None:
        _set(self, label=units.process_label(self.engine_id, self.process_index))


@dataclasses.dataclass(frozen=True)
class StackFrame:
    """One frame of a process's main-thread stack (``collect.stacklib``)."""

    function: str
    where: Location  # the frame's place: a notebook cell's line, or a file's line with its code
    user: bool  # the user's code (not Python's, JAX's, jaxinspect's or another library's)

    def to_json(self) -> dict[str, Any]:
        return _jsonify(self)


@dataclasses.dataclass(frozen=True)
class LivenessRecord(Record):
    """Where a process's main thread is, read every second by jaxinspect's background thread
    (``sys._current_frames``; nothing on jit's call path), and how long it has stayed there.
    ``activity`` is ``waiting`` when the main thread has stayed at one place with (almost) no
    CPU time of its own (blocked: a collective, a device result, a lock), ``running`` when it
    moves or computes, ``compiling`` inside JAX's compiler, ``idle`` when no cell or task runs."""

    kind: ClassVar[str] = "liveness"
    seq: int
    time: float  # Unix seconds of the reading
    busy: bool  # a cell or task is running on the main thread
    activity: Literal["running", "waiting", "compiling", "idle"]
    where: Location | None  # the innermost frame of the user's code (None: none on the stack)
    function: str | None  # that frame's function ("<module>" for a cell's top level)
    inner: str | None  # the innermost frame when it is not the user's: "jax/_src/array.py:640 (_value)"
    still_s: float  # seconds the main thread has stayed at this place (waiting: without CPU)
    cpu_s: float | None  # main-thread CPU seconds over the last reading (None: not measurable)
    last_step: int | None  # the newest step given to monitor.log() / watch(step=)
    last_step_time: float | None  # Unix seconds when it was logged
    last_compile: str | None  # the function of the newest compile
    last_compile_time: float | None  # Unix seconds when it finished
    stuck_after_s: float  # this process's threshold (``config.stuck_after_s``)


@dataclasses.dataclass(frozen=True)
class StackRecord(Record):
    """A process's main-thread stack, taken when it has waited at one place for
    ``config.stuck_after_s`` (``reason`` "waiting") or when the notebook asked (``asked``)."""

    kind: ClassVar[str] = "stack"
    seq: int
    time: float
    reason: Literal["waiting", "asked"]
    thread: str  # the thread's name
    frames: tuple[StackFrame, ...]  # outermost first; the innermost are kept
    more: int  # outer frames left out
    where: Location | None  # the innermost frame of the user's code
    function: str | None
    still_s: float  # how long the main thread had stayed there
    text: str  # the stack as text, innermost last, with each line's code


@dataclasses.dataclass(frozen=True)
class ProcessFacts:
    """One process's column of the side-by-side view, derived by the collector's table from
    what the process sent (``live.processtable``); the ``*_text`` fields are what views show."""

    id: int
    process_index: int
    compiles: int  # user compiles (JAX-internal ones are in ``internal_compiles``)
    internal_compiles: int
    compile_s: float
    compile_text: str
    last_recompile: str | None  # "fun_name: reason" of the newest user compile with a reason
    arrays: int | None  # None before the process's first ``buffers``
    bytes: int | None
    bytes_text: str
    device_in_use: int | None  # summed over its devices; None where the allocator says nothing
    in_use_text: str  # "–" before a snapshot, "n/a (CPU)" without allocator numbers
    device_peak: int | None
    peak_text: str
    alerts: int
    label: str = ""  # "engine 0 · p0" or "p0"
    engine_id: int | None = None
    # connected (nothing heard about its main thread yet), running, waiting, compiling, idle,
    # stuck (waiting at one place for ``config.stuck_after_s`` while a cell runs), silent (no
    # word for a while), done, lost
    activity: str = "connected"
    stuck: bool = False
    activity_text: str = ""  # "stuck 14 s at cell [3] line 7 (step)", "idle", "lost 2 min ago"
    where: Location | None = None  # where its main thread is (the user's innermost frame)
    function: str | None = None
    inner: str | None = None  # the innermost frame when not the user's
    still_s: float | None = None
    last_step_text: str = ""  # "step 41 · 3 s ago", "–"
    last_compile_text: str = ""  # "train_step · 20 s ago", "–"
    stack: str | None = None  # its newest main-thread stack as text (taken when stuck or asked)
    stack_reason: str | None = None  # "waiting" or "asked"
    stack_age_s: float | None = None  # seconds since that stack was taken

    def to_json(self) -> dict[str, Any]:
        return _jsonify(self)


@dataclasses.dataclass(frozen=True)
class ProcessFunctionRow:
    """One function across the processes: user compiles per connection id (absent: none).
    ``differs``: processes compiled it a different number of times (in a multi-controller job,
    usually a process tracing a different program: it hangs at the next collective)."""

    name: str
    counts: dict[str, int]  # connection id (as text) -> compiles
    total: int
    differs: bool
    reason: str | None  # the latest reason of the process with the most compiles
    reason_from: int | None  # that process's connection id

    def to_json(self) -> dict[str, Any]:
        return _jsonify(self)


@dataclasses.dataclass(frozen=True)
class ProcessesRecord(Record):
    """The processes of a multi-process job side by side, computed once by the collector's
    table: per-process facts and compiles per function with their divergence marks. The newest
    replaces the previous one."""

    kind: ClassVar[str] = "processes"
    seq: int
    time: float
    processes: tuple[ProcessFacts, ...]
    functions: tuple[ProcessFunctionRow, ...]  # differing first, then most compiles, then name
    more_functions: int  # functions beyond the bound
    more_differing: int  # of which differ
    differing: int  # functions whose counts differ, in all
    # "3 processes · 2 connected · 1 lost · job of 4" (the expected count when it differs)
    summary: str = ""
    # process index (as text) -> connected processes claiming it, where more than one does
    duplicates: dict[str, int] = dataclasses.field(default_factory=dict)
    # connection ids of the processes marked stuck, and one sentence naming them, where each
    # waits, and what the others are doing ("p0 (engine 0) has waited 14 s at cell [3] line 7
    # (step); p1 (engine 1) is not there: idle, last step 4"); None when none is stuck
    stuck: tuple[int, ...] = ()
    diagnosis: str | None = None
    stuck_after_s: float = 0.0  # the notebook's threshold (``config.stuck_after_s``)
