"""The kernel ⇄ sidebar wire protocol, written once here and once in ``labextension/src/protocol.ts``.

``SCHEMA`` is the single description both sides must agree on; ``tests/test_protocol.py`` loads the
compiled TypeScript module and checks that its ``SCHEMA`` equals this one, so a change on one side
without the other fails the suite.

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
"""

from __future__ import annotations

from typing import Any

PROTOCOL_VERSION = 1
PUSH_TARGET = "jaxinspect"
RPC_TARGET = "jaxinspect.rpc"

# Field types are small strings: "int", "float", "str", "bool", "any", "T|null", "list[T]",
# "dict[str,T]" where T is a scalar type or a record name below.
SCHEMA: dict[str, Any] = {
    "version": PROTOCOL_VERSION,
    "targets": {"push": PUSH_TARGET, "rpc": RPC_TARGET},
    "messages": {
        # frontend -> kernel: comm_open data for both targets
        "open": {"client": "str"},
        # kernel -> frontend (push comm)
        "announce": {"jaxinspect_version": "str"},
        "hello": {"session": "Session", "env": "env", "status": "status"},
        "batch": {"seq": "int", "records": "list[any]", "dropped": "dict[str,int]"},
        "goodbye": {"reason": "str"},
        "error": {"code": "str", "message": "str"},
        # rpc comm
        "request": {"id": "int", "method": "str", "params": "any"},
        "response": {"id": "int", "ok": "bool", "result": "any", "error": "str|null"},
    },
    "methods": ["hello", "ping", "snapshot", "compile_diff", "interest", "track_keys"],
    "records": {
        "Session": {
            "jaxinspect_version": "str",
            "protocol": "int",
            "pid": "int",
            "python_version": "str",
        },
        "Device": {
            "id": "int",
            "platform": "str",
            "device_kind": "str",
            "process_index": "int",
            "label": "str",
        },
        "env": {
            "kind": "str",
            "jax_version": "str|null",
            "jaxlib_version": "str|null",
            "flax_version": "str|null",
            "python_version": "str",
            "backend": "str|null",
            "backend_initialized": "bool",
            "process_index": "int",
            "process_count": "int",
            "devices": "list[Device]",
            "device_count": "int",
            "note": "str|null",
        },
        "status": {
            "kind": "str",
            "seq": "int",
            "time": "float",
            "busy": "bool",
            "execution_count": "int",
            "cell_elapsed_s": "float|null",
            "events_total": "int",
            "events_by_kind": "dict[str,int]",
            "subscribers": "int",
            "internal_errors": "int",
        },
        "internal_error": {
            "kind": "str",
            "where": "str",
            "message": "str",
            "count": "int",
        },
        "Reason": {
            "kind": "str",
            "path": "str|null",
            "before": "str|null",
            "after": "str|null",
            "message": "str",
            "recreated": "bool",
            "details": "list[str]",
        },
        "compile": {
            "kind": "str",
            "id": "int",
            "fun_key": "str",
            "fun_name": "str",
            "defined_at": "str|null",
            "call_site": "str|null",
            "cell": "int|null",
            "trace_s": "float|null",
            "lower_s": "float|null",
            "compile_s": "float|null",
            "total_s": "float",
            "persistent_cache": "str|null",
            "time": "float",
            "thread": "str",
            "process_index": "int",
            "internal": "bool",
            "parent": "str|null",
            "api": "str",
            "signature": "str",
            "reasons": "list[Reason]",
            "out_shardings": "list[str]",
        },
        "compile_stats": {
            "kind": "str",
            "fun_key": "str",
            "fun_name": "str",
            "defined_at": "str|null",
            "internal": "bool",
            "compiles": "int",
            "trace_s": "float",
            "lower_s": "float",
            "compile_s": "float",
            "total_s": "float",
            "reasons": "dict[str,int]",
            "last_reasons": "list[Reason]",
            "last_time": "float",
        },
        "compile_alert": {
            "kind": "str",
            "fun_key": "str",
            "fun_name": "str",
            "compiles": "int",
            "reason_kind": "str",
            "message": "str",
            "hint": "str",
            "time": "float",
        },
        # one device's share of the live arrays, plus what the allocator says (None on CPU)
        "DeviceMemory": {
            "device": "str",
            "id": "int",
            "platform": "str",
            "arrays": "int",
            "bytes": "int",
            "bytes_in_use": "int|null",
            "peak_bytes_in_use": "int|null",
            "bytes_limit": "int|null",
        },
        # arrays grouped by who holds them (owner) or where they were created (site)
        "BufferGroup": {
            "name": "str",
            "arrays": "int",
            "bytes": "int",
            "example": "str",
            "site": "str|null",
        },
        "buffers": {
            "kind": "str",
            "seq": "int",
            "time": "float",
            "trigger": "str",
            "arrays": "int",
            "bytes": "int",
            "device_bytes": "int",
            "deleted": "int",
            "devices": "list[DeviceMemory]",
            "dtypes": "list[BufferGroup]",
            "owners": "list[BufferGroup]",
            "sites": "list[BufferGroup]",
            "unowned": "BufferGroup",
            "attributed": "bool",
            "partial": "bool",
            "took_s": "float",
            "interval_s": "float|null",
        },
        # one module (the leaf path minus its last component) of a watched tree
        "ParamLayer": {
            "path": "str",
            "leaves": "int",
            "values": "int",
            "norm": "float|null",
            "update": "float|null",
            "nan": "int",
            "inf": "int",
            "mean": "float|null",
            "std": "float|null",
            "min": "float|null",
            "max": "float|null",
            "zeros": "float",
        },
        "params_watch": {
            "kind": "str",
            "name": "str",
            "seq": "int",
            "step": "int|null",
            "time": "float",
            "leaves": "int",
            "values": "int",
            "norm": "float|null",
            "update": "float|null",
            "nonfinite": "int",
            "layers": "list[ParamLayer]",
            "more_layers": "int",
            "took_s": "float",
            "interval_s": "float|null",
            "note": "str|null",
        },
        "params_alert": {
            "kind": "str",
            "id": "int",
            "time": "float",
            "name": "str",
            "step": "int|null",
            "path": "str",
            "nan": "int",
            "inf": "int",
            "message": "str",
            "hint": "str",
            "last_finite_step": "int|null",
            "bad_leaves": "int",
            "total_leaves": "int",
            "leaves": "list[str]",
            "checked": "str",
            "cause": "str|null",
        },
        # one key in the PRNG lineage tree (pre-order; chains of `key, sub = split(key)` are flattened
        # so a long training loop stays shallow); state: fresh | consumed | split | reused
        "KeyNode": {
            "id": "int",
            "parent": "int|null",
            "depth": "int",
            "op": "str",
            "label": "str",
            "typed": "bool",
            "site": "str|null",
            "state": "str",
            "uses": "int",
            "used_by": "list[str]",
            "folded": "int",
        },
        "KeyCount": {"name": "str", "site": "str|null", "count": "int"},
        "keys": {
            "kind": "str",
            "seq": "int",
            "time": "float",
            "tracking": "bool",
            "on_reuse": "str",
            "created": "int",
            "derived": "int",
            "consumed": "int",
            "reuses": "int",
            "summarised": "int",
            "nodes": "list[KeyNode]",
            "more_nodes": "int",
            "consumers": "list[KeyCount]",
            "note": "str|null",
        },
        # a PRNG key used twice (eager: seen at run time; jit: read from a traced jaxpr). A reuse that
        # happens again is re-sent with the same id and a higher count.
        "key_reuse": {
            "kind": "str",
            "id": "int",
            "time": "float",
            "where": "str",
            "reuse": "str",
            "key": "str",
            "function": "str|null",
            "first_op": "str",
            "first_site": "str|null",
            "second_op": "str",
            "second_site": "str|null",
            "path": "list[str]",
            "count": "int",
            "message": "str",
            "hint": "str",
        },
        # one process of a multi-process job that publishes to this kernel's collector
        # (``jaxinspect.collect_processes()`` here, ``jaxinspect.connect()`` there); ``id`` is the
        # connection, unique even when two processes claim the same process_index.
        # state: connected | closed (said goodbye) | lost (connection dropped without goodbye)
        "process": {
            "kind": "str",
            "id": "int",
            "process_index": "int",
            "process_count": "int",
            "host": "str",
            "pid": "int",
            "state": "str",
            "connected_at": "float",
            "last_seen": "float",
            "records": "int",
            "dropped": "int",
            "jax_version": "str|null",
            "backend": "str|null",
            "devices": "list[str]",
            "note": "str|null",
        },
        # a record (compile, compile_stats, compile_alert, buffers, buffer_alert, status, env,
        # params_watch, params_alert, key_reuse, keys, internal_error) from process ``source``
        "remote": {
            "kind": "str",
            "source": "int",
            "process_index": "int",
            "record": "any",
        },
        "buffer_alert": {
            "kind": "str",
            "id": "int",
            "time": "float",
            "group": "str",
            "name": "str",
            "arrays_delta": "int",
            "bytes_delta": "int",
            "snapshots": "int",
            "message": "str",
            "hint": "str",
        },
    },
}


class ProtocolError(ValueError):
    """A message that does not follow ``SCHEMA``."""


def message(type_: str, **fields: Any) -> dict[str, Any]:
    """Build a wire message of ``type_``; raises ProtocolError on unknown types or missing fields."""
    spec = SCHEMA["messages"].get(type_)
    if spec is None:
        raise ProtocolError(f"unknown message type {type_!r}")
    missing = [k for k in spec if k not in fields]
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
