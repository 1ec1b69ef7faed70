"""Comm transport: connects hub batches and RPC requests to JupyterLab sidebars.

Targets (see ``protocol``): the frontend opens ``jaxinspect`` to receive pushes and
``jaxinspect.rpc`` to send requests. Handlers may run on the main shell thread or, for comms over
subshells, on a subshell thread while a cell runs; both only read snapshots.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import errors, protocol
from .._version import __version__
from ..config import config
from ..records import SessionRecord
from .hub import Hub

RpcMethod = Callable[[Any], Any]


#: the longest a sidebar waits between pings, whatever the silence limit
PING_EVERY_MAX_S = 20.0


def ping_every_s() -> float:
    """How often a sidebar should ping: a quarter of ``config.sidebar_silence_s`` (at most
    20 s), so one late ping (a loaded machine, a throttled page) never makes a live sidebar
    look gone; the sidebar reads it from each ping's answer."""
    return min(PING_EVERY_MAX_S, max(0.5, float(config.sidebar_silence_s) / 4))


def session_record() -> SessionRecord:
    return SessionRecord(
        jaxinspect_version=__version__,
        protocol=protocol.PROTOCOL_VERSION,
        pid=os.getpid(),
        python_version=platform.python_version(),
    )


class CommTransport:
    """Registers both comm targets and serves every sidebar that opens them."""

    def __init__(
        self,
        hub: Hub,
        hello: Callable[[], dict[str, Any]],
        comm_manager: Any = None,
        create_comm: Callable[..., Any] | None = None,
        on_subscribers_changed: Callable[[int], None] | None = None,
    ) -> None:
        if comm_manager is None or create_comm is None:
            import comm as comm_pkg

            comm_manager = comm_manager or comm_pkg.get_comm_manager()
            create_comm = create_comm or comm_pkg.create_comm
        self.hub = hub
        self._hello = hello
        self._manager = comm_manager
        self._create_comm = create_comm
        self._on_subscribers_changed = on_subscribers_changed
        self._lock = threading.Lock()
        self._push: dict[str, tuple[Any, int]] = {}  # comm_id -> (comm, hub token)
        self._rpc: dict[str, Any] = {}
        self._client: dict[str, str] = {}  # push comm id -> the sidebar's client id
        self._silence: dict[str, float] = {}  # client -> idle seconds since it was last heard
        self.stale_closed = 0
        self._methods: dict[str, RpcMethod] = {
            "hello": lambda params: self._hello(),
            "ping": lambda params: {"time": time.time(), "every_s": ping_every_s()},  # "alive"
            "snapshot": lambda params: {"records": self.hub.snapshot()},
        }
        self._started = False

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Register the targets and announce ourselves to any frontend listening."""
        if self._started:
            return
        self._manager.register_target(protocol.PUSH_TARGET, self._on_push_open)
        self._manager.register_target(protocol.RPC_TARGET, self._on_rpc_open)
        self._started = True
        with errors.guard("transport.announce"):
            announce = self._create_comm(
                target_name=protocol.PUSH_TARGET,
                data=protocol.message("announce", jaxinspect_version=__version__),
            )
            announce.close()

    def stop(self, reason: str = "jaxinspect was unloaded") -> None:
        """Say goodbye, close every comm and unregister both targets. Idempotent."""
        if not self._started:
            return
        self._started = False
        ours = {protocol.PUSH_TARGET: self._on_push_open, protocol.RPC_TARGET: self._on_rpc_open}
        for target, handler in ours.items():
            if self._manager.targets.get(target) == handler:  # never remove someone else's
                self._manager.unregister_target(target, handler)
        with self._lock:
            push, self._push = self._push, {}
            rpc, self._rpc = self._rpc, {}
        for comm, token in push.values():
            self.hub.unsubscribe(token)
            with errors.guard("transport.goodbye"):
                comm.send(protocol.message("goodbye", reason=reason))
                comm.close()
        for comm in rpc.values():
            with errors.guard("transport.close_rpc"):
                comm.close()
        self._notify()

    def register_method(self, name: str, method: RpcMethod) -> None:
        """Make ``method(params)`` answer RPC requests named ``name`` (must read snapshots only)."""
        self._methods[name] = method

    @property
    def push_comm_count(self) -> int:
        with self._lock:
            return len(self._push)

    def comm_ids(self) -> list[str]:
        with self._lock:
            return [*self._push, *self._rpc]

    # -- handlers --------------------------------------------------------------------------
    def _reject_if_mismatched(self, comm: Any, msg: dict[str, Any]) -> bool:
        problem = protocol.check_version(msg.get("content", {}).get("data"))
        if problem is None:
            return False
        comm.send(protocol.message("error", code="version_mismatch", message=problem))
        comm.close()
        return True

    def _on_push_open(self, comm: Any, msg: dict[str, Any]) -> None:
        try:
            if self._reject_if_mismatched(comm, msg):
                return
            comm.send(
                protocol.message("hello", session=session_record().to_json(), **self._hello())
            )

            def push(batch: dict[str, Any]) -> None:
                comm.send(protocol.message("batch", **batch))

            token = self.hub.subscribe(push)
            client = self._client_of(msg)
            with self._lock:
                self._push[comm.comm_id] = (comm, token)
                if client is not None:
                    self._client[comm.comm_id] = client
                    self._silence[client] = 0.0
            comm.on_close(lambda _msg: self._forget(comm.comm_id))
            self._notify()
        except Exception as exc:  # noqa: BLE001
            errors.record("transport.push_open", exc)

    def _on_rpc_open(self, comm: Any, msg: dict[str, Any]) -> None:
        try:
            if self._reject_if_mismatched(comm, msg):
                return
            client = self._client_of(msg)
            with self._lock:
                self._rpc[comm.comm_id] = comm
                if client is not None:
                    self._client[comm.comm_id] = client
                    self._silence[client] = 0.0
            comm.on_msg(lambda m: self._on_request(comm, m, client))
            comm.on_close(lambda _msg: self._forget(comm.comm_id))
        except Exception as exc:  # noqa: BLE001
            errors.record("transport.rpc_open", exc)

    def _on_request(self, comm: Any, msg: dict[str, Any], client: str | None = None) -> None:
        data = msg.get("content", {}).get("data") or {}
        req_id = data.get("id", -1) if isinstance(data, dict) else -1
        if client is not None:
            with self._lock:
                self._silence[client] = 0.0
        try:
            problem = protocol.check_version(data)
            if problem is not None:
                comm.send(protocol.message("error", code="version_mismatch", message=problem))
                return
            method = self._methods.get(data.get("method"))
            if method is None:
                known = ", ".join(sorted(self._methods))
                raise LookupError(f"unknown method {data.get('method')!r}; known: {known}")
            result = method(data.get("params"))
            comm.send(protocol.message("response", id=req_id, ok=True, result=result, error=None))
        except Exception as exc:  # noqa: BLE001
            errors.record("transport.rpc", exc)
            with errors.guard("transport.rpc_reply"):
                comm.send(
                    protocol.message(
                        "response",
                        id=req_id,
                        ok=False,
                        result=None,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                )

    @staticmethod
    def _client_of(msg: dict[str, Any]) -> str | None:
        data = msg.get("content", {}).get("data")
        client = data.get("client") if isinstance(data, dict) else None
        # a per-page id ("name/random") comes from a sidebar that pings; older ones are not judged
        return client if isinstance(client, str) and "/" in client else None

    def sweep(self, dt: float, busy: bool) -> int:
        """Close the push comms of sidebars that stopped pinging: a page closed or a browser
        gone without a goodbye leaves its comms open in the kernel, which would keep sending to
        nobody (``config.sidebar_silence_s``). Only idle time counts (a kernel without subshells
        answers after the cell), and only sidebars that ping (per-page client ids) are judged.
        Returns how many were closed."""
        if busy or dt <= 0:
            return 0
        with self._lock:
            for client in self._silence:
                self._silence[client] += dt
            limit = float(config.sidebar_silence_s)
            gone = {c for c, quiet in self._silence.items() if quiet > limit}
            stale = [
                (cid, self._push[cid][0] if cid in self._push else self._rpc.get(cid))
                for cid, client in self._client.items()
                if client in gone
            ]
        closed = 0
        for cid, comm in stale:
            with errors.guard("transport.stale_goodbye"):
                if cid in self._push:
                    closed += 1
                    comm.send(
                        protocol.message(
                            "goodbye",
                            reason=f"no word from this sidebar for {limit:.0f} s; reconnect to resume",
                        )
                    )
                if comm is not None:
                    comm.close()
            self._forget(cid)
        self.stale_closed += closed
        return closed

    def _forget(self, comm_id: str) -> None:
        with self._lock:
            entry = self._push.pop(comm_id, None)
            self._rpc.pop(comm_id, None)
            client = self._client.pop(comm_id, None)
            if client is not None and client not in self._client.values():
                self._silence.pop(client, None)
        if entry is not None:
            self.hub.unsubscribe(entry[1])
            self._notify()

    def _notify(self) -> None:
        if self._on_subscribers_changed is not None:
            with errors.guard("transport.subscribers_changed"):
                self._on_subscribers_changed(self.push_comm_count)
