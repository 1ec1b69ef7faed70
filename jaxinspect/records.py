"""Records: frozen, JSON-ready snapshots of what jaxinspect observed. No live JAX objects inside.

Every record has a ``kind`` (the hub's ring-buffer key and the wire's ``kind`` field) and a
``to_json()`` whose keys match ``protocol.SCHEMA["records"][kind]``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

MAX_DEVICES_IN_RECORD = 256


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


@dataclasses.dataclass(frozen=True)
class InternalErrorRecord(Record):
    """An exception jaxinspect caught in one of its own hooks, shown once with a count."""

    kind: ClassVar[str] = "internal_error"
    where: str
    message: str
    count: int


@dataclasses.dataclass(frozen=True)
class Reason:
    """Why a call missed jit's cache: which argument (``path``) and what changed.

    ``kind`` is one of: first_call, redefined, rewrapped, shape, dtype, weak_type, structure,
    static, sharding, context, unknown, more.
    """

    kind: str
    path: str | None
    before: str | None
    after: str | None
    message: str
    recreated: bool = False

    def to_json(self) -> dict[str, Any]:
        return _jsonify(self)


@dataclasses.dataclass(frozen=True)
class CompileEvent(Record):
    """One jitted call that missed the cache: its trace / lowering / backend-compile phases."""

    kind: ClassVar[str] = "compile"
    id: int
    fun_key: str
    fun_name: str
    defined_at: str | None
    call_site: str | None
    cell: int | None
    trace_s: float | None
    lower_s: float | None
    compile_s: float | None
    total_s: float
    persistent_cache: str | None  # "hit", "miss", or None when the persistent cache is off
    time: float
    thread: str
    process_index: int
    internal: bool
    parent: str | None  # traced while tracing this function (nested jit)
    api: str  # "call" (a call that compiled), "trace" (jit(f).trace/lower/eval_shape)
    signature: str
    reasons: tuple[Reason, ...]


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
    reasons: dict[str, int]
    last_reasons: tuple[Reason, ...]
    last_time: float


@dataclasses.dataclass(frozen=True)
class CompileAlert(Record):
    """A function that keeps recompiling, with the one-line fix for its dominant reason."""

    kind: ClassVar[str] = "compile_alert"
    fun_key: str
    fun_name: str
    compiles: int
    reason_kind: str
    message: str
    hint: str
    time: float
