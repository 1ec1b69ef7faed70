"""``%jaxinspect status``: versions, backend, devices, and what the live layer is doing."""

from __future__ import annotations

from typing import Any

from .doc import Column, Group, Line, Section, Table, View, to_html, to_text

MAX_DEVICE_ROWS = 32


def _versions(env: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("jax", env.get("jax_version") or "not installed"),
        ("jaxlib", env.get("jaxlib_version") or "not installed"),
        ("flax", env.get("flax_version") or "not installed"),
        ("python", env.get("python_version") or "?"),
    ]


def _backend(env: dict[str, Any]) -> str:
    if not env.get("backend_initialized"):
        return "not started"
    return (
        f"{env.get('backend')} · {env.get('device_count', 0)} device(s) · "
        f"process {env.get('process_index', 0)} of {env.get('process_count', 1)}"
    )


def _device_rows(env: dict[str, Any]) -> tuple[list[tuple[Any, ...]], int]:
    devices = env.get("devices") or []
    rows = [
        (d["id"], d["platform"], d["device_kind"], d["process_index"], d["label"])
        for d in devices[:MAX_DEVICE_ROWS]
    ]
    return rows, max(0, int(env.get("device_count", len(devices))) - len(rows))


def _live(status: dict[str, Any], info: dict[str, Any]) -> list[tuple[str, str]]:
    by_kind = status.get("events_by_kind") or {}
    kinds = ", ".join(f"{k}: {n}" for k, n in sorted(by_kind.items())) or "none yet"
    return [
        ("events recorded", f"{status.get('events_total', 0)} ({kinds})"),
        ("sidebar connections", str(info.get("sidebars", 0))),
        ("sampler", "running" if info.get("sampler_running") else "idle (no sidebar open)"),
        ("internal errors", str(status.get("internal_errors", 0))),
    ]


def status_doc(env: dict[str, Any], status: dict[str, Any], info: dict[str, Any]) -> View:
    """Versions, backend and devices (bounded, with "… N more"), and what the live layer does."""
    about = list(_versions(env)) + [("backend", _backend(env))]
    if env.get("note"):
        about.append(("note", env["note"]))
    children: list[Any] = [Group([Table(("", ""), about, header=False)], indent=2)]
    rows, more = _device_rows(env)
    if rows:
        columns = ("id", "platform", "kind", Column("process", "right"), "device")
        children.append(
            Section(f"devices ({len(rows) + more})", [Table(columns, rows, more=more)], open=True)
        )
    children.append(Section("live", [Line(f"{k}: {v}") for k, v in _live(status, info)], fold=False))
    title = f"jaxinspect {info.get('version', '?')} (protocol v{info.get('protocol', '?')})"
    return View(title, children)


def status_text(env: dict[str, Any], status: dict[str, Any], info: dict[str, Any]) -> str:
    """The plain-text twin of ``status_html``."""
    return to_text(status_doc(env, status, info))


def status_html(env: dict[str, Any], status: dict[str, Any], info: dict[str, Any]) -> str:
    return to_html(status_doc(env, status, info))
