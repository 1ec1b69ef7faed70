"""The composition root: one Inspector per loaded IPython shell wires collectors to the live layer."""

from __future__ import annotations

import sys
from typing import Any

from .. import errors, protocol
from .._version import __version__
from ..collect import compat, compilelib, envlib
from ..compilestats import CompileLog
from ..config import config
from ..live.hub import Hub
from ..live.kernelstate import KernelState
from ..live.sampler import Sampler
from ..live.transport import CommTransport
from ..records import CompileEvent
from .display import Message


class Inspector:
    """Owns the hub, the heartbeat, the sampler and the comm transport of one kernel."""

    def __init__(self, comm_manager: Any = None, create_comm: Any = None) -> None:
        self.hub = Hub(capacities={"compile": config.compile_capacity})
        self.compile_log = CompileLog(config.storm_threshold, config.compile_capacity)
        self.compiles = compilelib.collector()
        self.kernel = KernelState(self.hub)
        self.sampler = Sampler(interval=0.5)
        self.env: dict[str, Any] = {}
        self.transport = CommTransport(
            self.hub,
            hello=self.hello,
            comm_manager=comm_manager,
            create_comm=create_comm,
            on_subscribers_changed=self._subscribers_changed,
        )
        self.transport.register_method("compile_diff", self._compile_diff)
        self.sampler.add_task("heartbeat", self.kernel.publish_status)
        self.sampler.add_task("env", self.refresh_env)
        errors.add_sink(self._on_internal_error)

    def start(self, cell_of: Any = None) -> None:
        self.refresh_env(force=True)
        self.kernel.publish_status()
        self.compiles.cell_of = cell_of
        with errors.guard("inspector.attach_compiles"):  # e.g. jax not installed
            self.compiles.attach(self._on_compile)
        self.transport.start()

    def close(self) -> None:
        """Stop everything this inspector started. Idempotent."""
        errors.remove_sink(self._on_internal_error)
        self.compiles.detach(self._on_compile)
        self.transport.stop()
        self.sampler.stop()
        self.hub.close()

    # -- data ------------------------------------------------------------------------------
    def refresh_env(self, force: bool = False) -> None:
        """Publish a new env record when the backend has started since the last one."""
        if force or (not self.env.get("backend_initialized") and compat.backends_initialized()):
            self.env = envlib.collect_env().to_json()
            self.hub.publish(self.env)

    def hello(self) -> dict[str, Any]:
        """The payload of ``hello``: current env and status (snapshots only)."""
        return {"env": self.env, "status": self.kernel.status().to_json()}

    def info(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "protocol": protocol.PROTOCOL_VERSION,
            "loaded": True,
            "sidebars": self.transport.push_comm_count,
            "sampler_running": self.sampler.running,
        }

    # -- callbacks -------------------------------------------------------------------------
    def _subscribers_changed(self, n: int) -> None:
        if n > 0:
            self.sampler.start()
        else:
            self.sampler.stop()

    def _on_compile(self, event: CompileEvent) -> None:
        """Runs inline in JAX's compile path: bookkeeping only, then hand records to the hub."""
        self.compile_log.storm_threshold = config.storm_threshold
        stats, alert = self.compile_log.add(event)
        self.hub.publish(event.to_json())
        self.hub.publish(stats.to_json())
        if alert is not None:
            self.hub.publish(alert.to_json())
            if config.print_alerts:
                print(f"jaxinspect: {alert.message}. Fix: {alert.hint}", file=sys.stderr)

    def _compile_diff(self, params: Any) -> dict[str, Any]:
        """RPC from the Compiles tab: the jaxpr diff of one recompile, as text. Re-traces with
        abstract values only (no device buffers are touched), on the RPC thread."""
        from ..api import compile_diff

        event_id = params.get("event_id") if isinstance(params, dict) else None
        if not isinstance(event_id, int):
            raise ValueError("compile_diff needs {'event_id': int}")
        view = compile_diff(event_id)
        if isinstance(view, Message):
            return {"event_id": event_id, "ok": False, "text": view.text, "headline": view.text}
        from ..render import jaxprview

        return {
            "event_id": event_id,
            "ok": True,
            "text": view.text(),
            "headline": jaxprview.diff_headline(view.diff),
        }

    def _on_internal_error(self, rec) -> None:
        self.hub.publish(rec.to_json())
