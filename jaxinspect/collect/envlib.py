"""The kernel's environment: package versions, backend, processes and devices."""

from __future__ import annotations

import importlib.metadata
import platform

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
