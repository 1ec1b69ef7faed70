"""``%jaxinspect status``: versions, backend, devices, and what the live layer is doing."""

from __future__ import annotations

from typing import Any

from .htmllib import esc, table, view

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


def status_text(env: dict[str, Any], status: dict[str, Any], info: dict[str, Any]) -> str:
    """The plain-text twin of ``status_html``."""
    lines = [f"jaxinspect {info.get('version', '?')} (protocol v{info.get('protocol', '?')})"]
    lines += [f"  {k:<8} {v}" for k, v in _versions(env)]
    lines.append(f"  backend  {_backend(env)}")
    if env.get("note"):
        lines.append(f"  note     {env['note']}")
    rows, more = _device_rows(env)
    if rows:
        lines.append("devices:")
        lines += [f"  [{r[0]}] {r[1]} {r[2]} (process {r[3]}) {r[4]}" for r in rows]
        if more:
            lines.append(f"  … {more} more")
    lines.append("live:")
    lines += [f"  {k}: {v}" for k, v in _live(status, info)]
    return "\n".join(lines)


def status_html(env: dict[str, Any], status: dict[str, Any], info: dict[str, Any]) -> str:
    parts = [table(["package", "version"], _versions(env))]
    parts.append(f"<div>backend: <code>{esc(_backend(env))}</code></div>")
    if env.get("note"):
        parts.append(f'<div class="ji-muted">{esc(env["note"])}</div>')
    rows, more = _device_rows(env)
    if rows:
        devs = table(["id", "platform", "kind", "process", "device"], rows)
        if more:
            devs += f'<div class="ji-muted">… {more} more</div>'
        parts.append(
            f"<details open><summary>devices ({len(rows) + more})</summary>{devs}</details>"
        )
    parts.append(table(["live", ""], _live(status, info)))
    title = f"jaxinspect {info.get('version', '?')} (protocol v{info.get('protocol', '?')})"
    return view("".join(parts), title)
