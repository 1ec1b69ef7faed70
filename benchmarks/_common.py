"""Shared by the benchmarks: stand in for one subscribed sidebar."""

from __future__ import annotations


class _SinkComm:
    """A comm that drops what it is sent, as if a sidebar were listening."""

    comm_id = "bench"

    def send(self, data=None, **kw):
        pass

    def close(self, *a, **kw):
        pass

    def on_msg(self, cb):
        pass

    def on_close(self, cb):
        pass


def subscribe_sidebar(inspector) -> None:
    """Open a push comm on ``inspector`` so the hub flusher and the sampler thread run."""
    inspector.transport._on_push_open(
        _SinkComm(), {"content": {"data": {"v": 1, "type": "open", "client": "bench"}}}
    )


def record(issue: str, name: str, value: float, target: str, unit: str = "×") -> None:
    """One promised figure, for ``benchmarks/run_all.py``: appended as a JSON line to the file
    named by ``JAXINSPECT_BENCH_RESULTS`` (nothing happens when it is unset)."""
    import json
    import os

    path = os.environ.get("JAXINSPECT_BENCH_RESULTS")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"issue": issue, "name": name, "value": value, "target": target, "unit": unit}) + "\n")
