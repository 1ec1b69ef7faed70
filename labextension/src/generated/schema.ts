/* eslint-disable */
/**
 * Generated from jaxinspect/wire.schema.json, itself generated
 * from jaxinspect/records.py and jaxinspect/protocol.py. Do not edit: change the Python
 * definitions and run `python -m jaxinspect.schema --write` (or `jlpm gen:schema`).
 */

/** The compact schema: the same object as Python's `jaxinspect.protocol.SCHEMA`. */
export const SCHEMA = {
  "version": 1,
  "targets": {
    "push": "jaxinspect",
    "rpc": "jaxinspect.rpc"
  },
  "messages": {
    "open": {
      "client": "str"
    },
    "announce": {
      "jaxinspect_version": "str"
    },
    "hello": {
      "session": "Session",
      "env": "env",
      "status": "status"
    },
    "batch": {
      "seq": "int",
      "records": "list[any]",
      "dropped": "dict[str,int]"
    },
    "goodbye": {
      "reason": "str"
    },
    "error": {
      "code": "str",
      "message": "str"
    },
    "request": {
      "id": "int",
      "method": "str",
      "params": "any"
    },
    "response": {
      "id": "int",
      "ok": "bool",
      "result": "any",
      "error": "str|null"
    }
  },
  "methods": [
    "hello",
    "ping",
    "snapshot",
    "compile_diff",
    "interest",
    "track_keys",
    "configure"
  ],
  "records": {
    "Device": {
      "id": "int",
      "platform": "str",
      "device_kind": "str",
      "process_index": "int",
      "label": "str"
    },
    "Session": {
      "jaxinspect_version": "str",
      "protocol": "int",
      "pid": "int",
      "python_version": "str"
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
      "note": "str|null"
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
      "cell_elapsed_text": "str"
    },
    "internal_error": {
      "kind": "str",
      "where": "str",
      "message": "str",
      "count": "int"
    },
    "Location": {
      "cell": "int|null",
      "line": "int|null",
      "code": "str|null",
      "path": "str|null",
      "text": "str"
    },
    "Reason": {
      "kind": "str",
      "path": "str|null",
      "before": "str|null",
      "after": "str|null",
      "message": "str",
      "recreated": "bool",
      "details": "list[str]",
      "label": "str"
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
      "memory": "CompiledMemory|null",
      "call": "Location|null",
      "defined": "Location|null",
      "location": "str",
      "trace_text": "str",
      "lower_text": "str",
      "compile_text": "str",
      "total_text": "str",
      "diffable": "bool"
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
      "memory": "CompiledMemory|null",
      "peak_temp_bytes": "int|null",
      "defined": "Location|null",
      "total_text": "str",
      "reasons_text": "str",
      "memory_text": "str|null",
      "notes": "list[str]"
    },
    "compile_alert": {
      "kind": "str",
      "fun_key": "str",
      "fun_name": "str",
      "compiles": "int",
      "reason_kind": "str",
      "message": "str",
      "hint": "str",
      "time": "float"
    },
    "CompiledMemory": {
      "argument_bytes": "int|null",
      "output_bytes": "int|null",
      "alias_bytes": "int|null",
      "temp_bytes": "int|null",
      "generated_code_bytes": "int|null",
      "flops": "float|null",
      "bytes_accessed": "float|null",
      "device_limit_bytes": "int|null",
      "platform": "str|null",
      "text": "str"
    },
    "JaxprEqn": {
      "prim": "str",
      "outs": "list[tuple[str,str]]",
      "ins": "list[tuple[str,str,bool]]",
      "params": "dict[str,str]",
      "subs": "list[tuple[str,int]]",
      "scope": "list[str]",
      "source": "str|null",
      "tag": "str|null"
    },
    "JaxprBody": {
      "index": "int",
      "name": "str",
      "consts": "list[tuple[str,str]]",
      "invars": "list[tuple[str,str]]",
      "outvars": "list[tuple[str,str,bool]]",
      "eqns": "list[JaxprEqn]",
      "uses": "int",
      "depth": "int",
      "total": "int"
    },
    "jaxpr_stats": {
      "kind": "str",
      "equations": "int",
      "top_level": "int",
      "by_primitive": "list[tuple[str,int]]",
      "bodies": "int",
      "shared": "int",
      "max_depth": "int",
      "inputs": "list[tuple[str,str]]",
      "outputs": "list[tuple[str,str]]",
      "consts": "list[tuple[str,str,int]]",
      "flagged": "list[tuple[str,int]]"
    },
    "jaxpr": {
      "kind": "str",
      "title": "str",
      "bodies": "list[JaxprBody]",
      "stats": "jaxpr_stats",
      "keys": "key_flow|null",
      "places": "dict[str,Location]"
    },
    "jaxpr_cost": {
      "kind": "str",
      "flops": "float|null",
      "transcendentals": "float|null",
      "bytes_accessed": "float|null",
      "optimal_seconds": "float|null",
      "argument_bytes": "int|null",
      "output_bytes": "int|null",
      "temp_bytes": "int|null",
      "alias_bytes": "int|null",
      "generated_code_bytes": "int|null",
      "backend": "str|null",
      "note": "str|null"
    },
    "JaxprDiffRow": {
      "status": "str",
      "a": "int|null",
      "b": "int|null",
      "what": "list[str]"
    },
    "JaxprIODiff": {
      "status": "str",
      "label": "str",
      "a": "str|null",
      "b": "str|null"
    },
    "jaxpr_diff": {
      "kind": "str",
      "a": "jaxpr",
      "b": "jaxpr",
      "inputs": "list[JaxprIODiff]",
      "outputs": "list[JaxprIODiff]",
      "rows": "list[JaxprDiffRow]"
    },
    "DeviceMemory": {
      "device": "str",
      "id": "int",
      "platform": "str",
      "arrays": "int",
      "bytes": "int",
      "bytes_in_use": "int|null",
      "peak_bytes_in_use": "int|null",
      "bytes_limit": "int|null",
      "bytes_text": "str",
      "in_use_text": "str",
      "peak_text": "str",
      "limit_text": "str"
    },
    "BufferGroup": {
      "name": "str",
      "arrays": "int",
      "bytes": "int",
      "example": "str",
      "site": "str|null",
      "at": "Location|null",
      "bytes_text": "str"
    },
    "ArrayRow": {
      "id": "int",
      "type": "str",
      "dtype": "str",
      "shape": "list[int]",
      "bytes": "int",
      "device_bytes": "int",
      "devices": "list[str]",
      "n_devices": "int",
      "sharding": "str",
      "committed": "bool",
      "deleted": "bool",
      "owner": "str|null",
      "site": "str|null"
    },
    "Shard": {
      "device": "str",
      "device_id": "int",
      "bounds": "list[tuple[int,int]]",
      "shape": "list[int]",
      "bytes": "int",
      "replica": "int"
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
      "bytes_text": "str",
      "device_bytes_text": "str",
      "took_text": "str"
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
      "hint": "str"
    },
    "ParamLeaf": {
      "path": "str",
      "components": "list[str]",
      "kind": "str",
      "shape": "list[int]",
      "dtype": "str",
      "size": "int",
      "bytes": "int",
      "sharding": "str|null"
    },
    "ParamStats": {
      "mean": "float|null",
      "std": "float|null",
      "min": "float|null",
      "max": "float|null",
      "norm": "float|null",
      "zeros": "float",
      "nan": "int",
      "inf": "int"
    },
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
      "values_text": "str",
      "norm_text": "str",
      "update_text": "str",
      "stats_text": "str"
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
      "values_text": "str",
      "norm_text": "str",
      "update_text": "str",
      "took_text": "str"
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
      "watched_at": "Location|null",
      "cause_at": "Location|null",
      "headline": "str",
      "leaves_text": "str|null"
    },
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
      "folded": "int"
    },
    "KeyCount": {
      "name": "str",
      "site": "str|null",
      "count": "int"
    },
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
      "places": "dict[str,Location]"
    },
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
      "first_at": "Location|null",
      "second_at": "Location|null",
      "first_use": "str",
      "second_use": "str"
    },
    "KeyFinding": {
      "reuse": "str",
      "key": "str",
      "first_op": "str",
      "first_site": "str|null",
      "second_op": "str",
      "second_site": "str|null",
      "message": "str"
    },
    "key_flow": {
      "kind": "str",
      "inputs": "list[str]",
      "splits": "int",
      "folds": "int",
      "consumes": "int",
      "findings": "list[KeyFinding]",
      "marks": "list[tuple[int,int,str]]",
      "partial": "bool"
    },
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
      "note": "str|null"
    },
    "ProcessFacts": {
      "id": "int",
      "process_index": "int",
      "compiles": "int",
      "internal_compiles": "int",
      "compile_s": "float",
      "compile_text": "str",
      "last_recompile": "str|null",
      "arrays": "int|null",
      "bytes": "int|null",
      "bytes_text": "str",
      "device_in_use": "int|null",
      "in_use_text": "str",
      "device_peak": "int|null",
      "peak_text": "str",
      "alerts": "int"
    },
    "ProcessFunctionRow": {
      "name": "str",
      "counts": "dict[str,int]",
      "total": "int",
      "differs": "bool",
      "reason": "str|null",
      "reason_from": "int|null"
    },
    "processes": {
      "kind": "str",
      "seq": "int",
      "time": "float",
      "processes": "list[ProcessFacts]",
      "functions": "list[ProcessFunctionRow]",
      "more_functions": "int",
      "more_differing": "int",
      "differing": "int",
      "summary": "str",
      "duplicates": "dict[str,int]"
    },
    "remote": {
      "kind": "str",
      "source": "int",
      "process_index": "int",
      "record": "any"
    }
  }
} as const;
