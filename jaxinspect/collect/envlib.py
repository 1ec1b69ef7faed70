"""The kernel's environment: package versions, backend, processes and devices."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket

from ..records import MAX_DEVICES_IN_RECORD, DeviceRecord, EnvRecord
from . import compat

NOT_STARTED_NOTE = (
    "JAX has not started a backend yet; it starts at the first computation. "
    "jaxinspect does not start it, so jax_num_cpu_devices and XLA_FLAGS still take effect."
)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _device_record(d) -> DeviceRecord:
    return DeviceRecord(
        id=int(d.id),
        platform=str(d.platform),
        device_kind=str(getattr(d, "device_kind", d.platform)),
        process_index=int(getattr(d, "process_index", 0)),
        label=str(d),
    )


def collect_env() -> EnvRecord:
    """Snapshot versions, backend and devices; never starts a JAX backend."""
    common = dict(
        jax_version=_version("jax"),
        jaxlib_version=_version("jaxlib"),
        flax_version=_version("flax"),
        python_version=platform.python_version(),
    )
    if not compat.backends_initialized():
        note = NOT_STARTED_NOTE if common["jax_version"] else "jax is not installed in this kernel."
        return EnvRecord(
            **common,
            backend=None,
            backend_initialized=False,
            process_index=0,
            process_count=1,
            devices=(),
            device_count=0,
            note=note,
        )
    jax = compat.loaded_module("jax")
    devices = jax.devices()
    return EnvRecord(
        **common,
        backend=jax.default_backend(),
        backend_initialized=True,
        process_index=int(jax.process_index()),
        process_count=int(jax.process_count()),
        devices=tuple(_device_record(d) for d in devices[:MAX_DEVICES_IN_RECORD]),
        device_count=len(devices),
        note=None,
    )


def process_identity() -> dict:
    """Who this process is in a multi-process job, for a collector's hello. Never imports and
    never starts a backend (so it may run before ``jax.distributed.initialize``): the index
    comes from ``jax.distributed``'s state when it was started, else from the backend once
    JAX has one, else 0 of 1."""
    out: dict = {
        "process_index": 0,
        "process_count": 1,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "jax_version": None,
        "backend": None,
        "devices": [],
    }
    jax = compat.loaded_module("jax")
    if jax is None:
        return out
    out["jax_version"] = getattr(jax, "__version__", None)
    dist = compat.loaded_module("jax._src.distributed")
    state = getattr(dist, "global_state", None)
    if getattr(state, "process_id", None) is not None and getattr(state, "num_processes", None):
        out["process_index"] = int(state.process_id)
        out["process_count"] = int(state.num_processes)
    if compat.backends_initialized():
        try:
            out["process_index"] = int(jax.process_index())
            out["process_count"] = int(jax.process_count())
            out["backend"] = str(jax.default_backend())
            out["devices"] = [str(d) for d in jax.local_devices()[:MAX_DEVICES_IN_RECORD]]
        except Exception:  # noqa: BLE001 - a backend that failed to start: keep what we have
            pass
    return out
