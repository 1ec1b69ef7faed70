"""Many processes, one notebook.

In the notebook: ``c = jaxinspect.collect_processes()`` opens a loopback collector; ``c.env``
holds the two environment variables a process needs to find it. In each process of the job
(started by a launcher, ``subprocess``, ipyparallel engines, ...): ``jaxinspect.connect()`` after
``jax.distributed.initialize()``. Every process then publishes its compiles (with reasons),
memory snapshots, alerts and status; the notebook's sidebar (Processes tab), ``c`` itself and
the in-cell monitor show them side by side.

What stays local to each process: RPCs (jaxpr diffs, key-tracking toggles), ``%jaxpr`` and every
other view; only records travel.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import errors
from ..collect import envlib
from ..live import ippbridge, remote
from ..live.processtable import ProcessTable
from ..render import processview
from .display import Message
from .inspector import Inspector

_collector: ProcessCollector | None = None
_connection: Connection | None = None
_lock = threading.Lock()


class ProcessCollector:
    """The notebook's end: a loopback endpoint, the folded table and its side-by-side view."""

    def __init__(
        self,
        port: int = 0,
        token: str | None = None,
        hub: Callable[[], Any] | None = None,
        client: Any = None,
    ) -> None:
        #: the loaded session's hub (sidebar, monitor) when there is one, read per record
        self._hub = hub or (lambda: None)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.table = ProcessTable()
        self.server: Any
        if client is not None:  # ipyparallel: engines publish through the cluster's messaging
            self.server = ippbridge.IppBridge(client, self._publish)
            self.transport = "ipyparallel"
        else:
            self.server = remote.CollectorServer(self._publish, port=port, token=token)
            self.transport = "loopback"
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick_loop, name="jaxinspect-processes-tick", daemon=True)
        self._ticker.start()

    def _tick_loop(self) -> None:
        """Once a second while a process is connected: a fresh ``processes`` record (a stuck
        or silent process is seen by looking, not by a record arriving)."""
        while not self._stop.wait(1.0):
            with errors.guard("processes.tick"):
                with self._changed:
                    summary = self.table.summary_now()
                hub = self._hub()
                if hub is not None and summary is not None:
                    hub.publish(summary)

    # -- where processes connect -----------------------------------------------------------
    @property
    def address(self) -> str:
        return self.server.address

    @property
    def token(self) -> str:
        return self.server.token

    @property
    def env(self) -> dict[str, str]:
        """``{"JAXINSPECT_COLLECTOR": address, "JAXINSPECT_COLLECTOR_TOKEN": token}``: add it to
        each process's environment (``subprocess.Popen(..., env={**os.environ, **c.env})``)."""
        return self.server.env

    @property
    def running(self) -> bool:
        return self.server.running

    def _publish(self, rec: dict[str, Any]) -> None:
        """Connection threads: fold, then hand to the loaded extension's hub (sidebar, monitor)."""
        with self._changed:
            self.table.add(rec)
            summary = self.table.summary_due(rec)  # the derived `processes` record, when due
            self._changed.notify_all()
        hub = self._hub()
        if hub is not None:
            hub.publish(rec)
            if summary is not None:
                hub.publish(summary)

    # -- reading ---------------------------------------------------------------------------
    def processes(self) -> list[dict[str, Any]]:
        """One row per process: index, host, pid, state, compiles, memory, alerts, ..."""
        with self._lock:
            return self.table.rows()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return self.table.snapshot()

    def wait(self, n: int = 1, timeout: float = 60.0, ended: bool = False) -> bool:
        """Wait until ``n`` processes have connected (``ended=True``: have said goodbye or been
        lost). Returns whether that happened within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                rows = self.table.rows()
                done = [r for r in rows if not ended or r["state"] != "connected"]
                if len(done) >= n:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.5))

    def close(self) -> None:
        global _collector
        self._stop.set()
        self.server.close()
        with _lock:
            if _collector is self:
                _collector = None

    # -- stacks ----------------------------------------------------------------------------
    def _ask(self) -> tuple[set[int], list[str]]:
        """Ring the doorbell of every connected process that has one: (connection ids asked,
        problems). ipyparallel engines are signalled through their nannies (any host);
        loopback processes directly when they run on this host."""
        asked: set[int] = set()
        problems: list[str] = []
        if isinstance(self.server, ippbridge.IppBridge):
            bells = self.server.doorbells()
            by_signal: dict[str, list[int]] = {}
            for eid, sig in bells.items():
                by_signal.setdefault(sig, []).append(eid)
            for sig, eids in by_signal.items():
                problem = self.server.ring(eids, sig)
                if problem:
                    problems.append(problem)
                else:
                    asked.update(eids)  # an engine's connection id is its engine id
            return asked, problems
        here = socket.gethostname()
        for row in self.processes():
            sig = getattr(signal, str(row.get("doorbell") or ""), None) if row.get("doorbell") else None
            if row.get("state") != "connected" or sig is None:
                continue
            if row.get("host") != here:
                problems.append(f"{row.get('label')} runs on {row.get('host')}: its stack is sent "
                                "when it looks stuck, not on request")
                continue
            try:
                os.kill(int(row["pid"]), sig)
                asked.add(int(row["id"]))
            except (OSError, ValueError) as exc:
                problems.append(f"could not ask {row.get('label')}: {exc}")
        return asked, problems

    def stacks(self, timeout: float = 3.0) -> Stacks | Message:
        """Every process's main-thread stack as text: asks each connected process for a fresh
        one (it works while their main threads wait inside a collective) and waits up to
        ``timeout`` seconds for the answers; processes that did not answer show their last
        stack, with its age, or say why there is none."""
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 <= timeout <= 3600:
            return Message(f"stacks(timeout=...): a number of seconds from 0 to 3600, got {timeout!r}",
                           level="error")
        start = time.time()
        asked, problems = self._ask()
        deadline = time.monotonic() + max(0.0, float(timeout))
        with self._changed:
            while asked:
                fresh = {e["id"] for e in self.table.stacks() if _answered(e["stack"], start)}
                if asked <= fresh:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(min(left, 0.25))
            entries = self.table.stacks()
            diagnosis = self.table.diagnosis()[1]
        return Stacks(entries, asked=asked, since=start, problems=problems, diagnosis=diagnosis)

    # -- display ---------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "running": self.running, **self.snapshot()}

    def __repr__(self) -> str:
        text = processview.text(self.snapshot(), self.address)
        return text if self.running else text + "\n(collector closed)"

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        return {
            "text/plain": repr(self),
            "text/html": processview.html(self.snapshot(), self.address),
        }


class NoCollector(Message):
    """``jaxinspect.processes()`` with no collector open: says how to open one, and so does its
    ``stacks()`` (so ``jaxinspect.processes().stacks()`` never raises)."""

    def stacks(self, timeout: float = 3.0) -> NoCollector:
        return self


def _answered(stack: dict[str, Any] | None, since: float) -> bool:
    """A stack taken because it was asked for at ``since`` (or later)."""
    return (stack is not None and stack.get("reason") == "asked"
            and float(stack.get("time") or 0) >= since - 0.5)


class Stacks:
    """The processes' main-thread stacks (``collector.stacks()``), text and HTML."""

    def __init__(self, entries: list[dict[str, Any]], asked: set[int], since: float,
                 problems: list[str], diagnosis: str | None) -> None:
        self.entries = entries
        self.asked = asked
        self.since = since
        self.problems = problems
        self.diagnosis = diagnosis

    @property
    def answered(self) -> list[int]:
        """The processes asked whose fresh stack arrived in time."""
        return sorted(e["id"] for e in self.entries if e["id"] in self.asked and _answered(e["stack"], self.since))

    def to_json(self) -> dict[str, Any]:
        return {"entries": self.entries, "asked": sorted(self.asked), "problems": self.problems,
                "diagnosis": self.diagnosis}

    def __repr__(self) -> str:
        return processview.stacks_text(self.to_json(), self.since)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        return {"text/plain": repr(self), "text/html": processview.stacks_html(self.to_json(), self.since)}


def _client_of(obj: Any) -> Any:
    """An ipyparallel Client from a Client or a Cluster (None for anything else)."""
    module = type(obj).__module__ or ""
    if not module.startswith("ipyparallel"):
        return None
    if hasattr(obj, "send_signal") and hasattr(obj, "ids"):
        return obj
    connect = getattr(obj, "connect_client_sync", None)
    return connect() if callable(connect) else None


def collect_processes(
    port: Any = 0, token: str | None = None, hub: Callable[[], Any] | None = None
) -> ProcessCollector | Message:
    """Open (or return the open) collector of this kernel. ``port`` may be an
    ``ipyparallel.Client`` (or ``Cluster``): its engines then publish through the cluster's own
    messaging (``%px %load_ext jaxinspect``). Otherwise a loopback endpoint on
    127.0.0.1:``port`` (0: any free) for processes started elsewhere (``jaxinspect.connect()``).
    A bad port or token, or a port already taken, gives a ``Message`` saying so (never raises).
    ``hub()`` gives the loaded session's hub (or None) to hand each record to."""
    global _collector
    if port is not None and not isinstance(port, int | str | float) and not isinstance(port, bool):
        try:
            client = _client_of(port)
        except Exception as exc:  # noqa: BLE001
            return Message(f"jaxinspect.collect_processes: cannot connect to {type(port).__name__} "
                           f"({type(exc).__name__}: {exc}); is the cluster running?", level="error")
        if client is None:
            return Message(
                f"jaxinspect.collect_processes: expected an ipyparallel Client or Cluster, or a port "
                f"number, got a {type(port).__name__}", level="error")
        with _lock:
            old = _collector
            if old is not None and old.running and getattr(old.server, "client", None) is client:
                return old
            if old is not None:
                old.close()
            try:
                _collector = ProcessCollector(hub=hub, client=client)
            except ippbridge.BridgeError as exc:
                return Message(f"jaxinspect.collect_processes: {exc}", level="error")
            return _collector
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        return Message(
            f"jaxinspect.collect_processes: port must be a whole number from 0 to 65535 "
            f"(0: any free port), got {port!r}",
            level="error",
        )
    if token is not None and not isinstance(token, str):
        return Message(
            f"jaxinspect.collect_processes: token must be a string (or None: a random "
            f"one), got {token!r}",
            level="error",
        )
    with _lock:
        if _collector is not None and _collector.running:
            if _collector.transport == "ipyparallel":
                return Message(
                    "jaxinspect.collect_processes: this kernel listens to an ipyparallel cluster "
                    f"({_collector.address}); close it first (%jaxinspect processes --stop) to "
                    "collect from processes started elsewhere", level="error")
            return _collector
        try:
            _collector = ProcessCollector(port=port, token=token, hub=hub)
        except OSError as exc:
            return Message(
                f"jaxinspect.collect_processes: cannot listen on 127.0.0.1:{port} ({exc}); "
                "pick another port, or 0 for any free one",
                level="error",
            )
        return _collector


def current_collector() -> ProcessCollector | None:
    return _collector


def stacks_rpc(params: Any) -> dict[str, Any]:
    """The sidebar's "Ask for stacks" (RPC ``stacks``): rings every connected process's doorbell
    through the open collector and waits up to ``timeout_s`` (default 3) for the answers. The
    stacks reach the sidebar with the next ``processes`` record; this says whom it asked and who
    answered. Runs on the RPC subshell, never on the kernel's main thread."""
    timeout = (params or {}).get("timeout_s", 3.0) if isinstance(params, dict) else 3.0
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 <= timeout <= 60:
        raise ValueError(f"stacks: timeout_s takes 0 to 60 seconds, got {timeout!r}")
    c = _collector
    if c is None or not c.running:
        return {"asked": [], "answered": [], "problems": [
            "no collector is open in this kernel: run c = jaxinspect.collect_processes(rc) first"]}
    out = c.stacks(timeout=float(timeout))
    if not isinstance(out, Stacks):
        return {"asked": [], "answered": [], "problems": [getattr(out, "text", str(out))]}
    return {"asked": sorted(out.asked), "answered": out.answered, "problems": list(out.problems)}


def close_collector() -> None:
    c = _collector
    if c is not None:
        c.close()


class Connection:
    """A process's end: its records go to a collector until ``close()`` (or exit)."""

    def __init__(self, address: str | None, error: str | None = None) -> None:
        self.address = address
        self.error = error
        self.forwarder: remote.Forwarder | None = None
        self.inspector: Any = None
        self._owns_inspector = False

    def status(self) -> dict[str, Any]:
        if self.forwarder is None:
            return {"address": self.address, "state": "error", "error": self.error}
        return self.forwarder.status()

    def close(self) -> None:
        """Send what is pending, say goodbye (the notebook shows this process as closed)."""
        global _connection
        forwarder, self.forwarder = self.forwarder, None
        inspector = self.inspector
        if forwarder is not None:
            if inspector is not None:
                with errors.guard("connection.final_snapshot"):
                    inspector.sample_buffers("cell")  # the memory at the end, too
                with errors.guard("connection.flush"):
                    inspector.hub.flush()
            forwarder.close()
            if inspector is not None and forwarder in inspector.forwarders:
                inspector.forwarders.remove(forwarder)
            if inspector is not None and not inspector.forwarders:
                with errors.guard("connection.stop_liveness"):
                    inspector.stop_liveness()
            self.error = self.error or "closed"
        if self._owns_inspector and inspector is not None:
            with errors.guard("connection.close_inspector"):
                inspector.close()
        self.inspector = None
        with _lock:
            if _connection is self:
                _connection = None

    def __repr__(self) -> str:
        st = self.status()
        if st["state"] == "error":
            return f"jaxinspect: not publishing ({st['error']})"
        return (
            f"jaxinspect: publishing to the collector at {st['address']} — {st['state']}, "
            f"{st['sent']} records sent, {st['queued']} queued, {st['dropped']} dropped"
            + (f"; {st['error']}" if st.get("error") else "")
        )


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def connect(
    address: str | None = None,
    token: str | None = None,
    buffers_every: float = 1.0,
    inspector: Inspector | None = None,
) -> Connection:
    """Publish this process's records to the collector at ``address`` (default: the
    ``JAXINSPECT_COLLECTOR`` / ``JAXINSPECT_COLLECTOR_TOKEN`` environment variables). Works
    without IPython. Never raises: a bad address or an unreachable collector is said once on
    stderr and the job runs on unobserved. Memory is sampled every ``buffers_every`` seconds.
    ``inspector``: the loaded session's (a kernel); None starts one of its own (a script)."""
    bad = None
    if isinstance(buffers_every, bool) or not isinstance(buffers_every, int | float) or not buffers_every > 0:
        bad = f"buffers_every must be a number of seconds > 0, got {buffers_every!r}"
    elif token is not None and not isinstance(token, str):
        bad = f"token must be a string (the collector's c.token), got a {type(token).__name__}"
    if bad is not None:
        conn = Connection(address if isinstance(address, str) else None, error=bad)
        _say(f"jaxinspect.connect: {bad}; not connected")
        return conn
    address = address or os.environ.get(remote.ENV_ADDRESS)
    token = token or os.environ.get(remote.ENV_TOKEN) or ""
    if not address:
        shell = _shell()
        if engine_id_of(shell) is not None:  # an ipyparallel engine: publish through the cluster
            return connect_engine(shell, inspector, buffers_every)
    current = _current_or_closed(address)
    if current is not None:
        return current
    if not address:
        conn = Connection(None, error=(
            "no collector address: in the notebook run c = jaxinspect.collect_processes() and "
            f"start this process with c.env in its environment ({remote.ENV_ADDRESS}, "
            f"{remote.ENV_TOKEN}), or call jaxinspect.connect(c.address, token=c.token)"
        ))
        _say(f"jaxinspect.connect: {conn.error}")
        return conn
    try:
        remote.parse_address(address)
    except remote.AddressError as exc:
        conn = Connection(address, error=str(exc))
        _say(f"jaxinspect.connect: {exc}")
        return conn
    def inspector_of_its_own() -> Inspector:  # a script or launcher process: no IPython, no sidebar
        own = Inspector(serve_comms=False)
        main = sys.modules.get("__main__")
        own.start(namespace=lambda: vars(main) if main is not None else None)
        return own

    def forwarder(insp: Inspector) -> remote.Outbox:
        return remote.Forwarder(insp.hub, address, token, _identity(insp), say=_say)

    return _publish(Connection(address), inspector, inspector_of_its_own, buffers_every, forwarder)


def _current_or_closed(address: str | None) -> Connection | None:
    """The open connection when it already publishes to ``address``; else it is closed (one
    process publishes to one place) and None."""
    with _lock:
        old = _connection
    if old is not None and old.forwarder is not None:
        if old.address == address:
            return old
        old.close()
    return None


def _publish(
    conn: Connection,
    inspector: Inspector | None,
    own_inspector: Callable[[], Inspector],
    buffers_every: float,
    sender: Callable[[Inspector], remote.Outbox],
    cell_prefix: str = "",
) -> Connection:
    """Start publishing this process's records on ``conn``: ``inspector`` (a loaded session's)
    or one of its own (``own_inspector()``), memory sampled every ``buffers_every`` s, the
    liveness thread, and ``sender(inspector)`` taking every batch. Never raises: a failure undoes
    what was started and is said once on stderr."""
    global _connection
    try:
        if inspector is None:
            inspector = own_inspector()
            conn._owns_inspector = True
        conn.inspector = inspector
        inspector.buffer_interval = inspector.buffer_interval or max(0.25, float(buffers_every))
        inspector.params_interval = inspector.params_interval or 1.0
        inspector.start_liveness(cell_prefix=cell_prefix)
        conn.forwarder = sender(inspector)
        inspector.forwarders.append(conn.forwarder)
        inspector.sampler.start()
    except Exception as exc:  # noqa: BLE001
        errors.record("processes.connect", exc)
        error = f"could not start publishing: {type(exc).__name__}: {exc}"
        with errors.guard("processes.connect.undo"):
            conn.close()  # the inspector and sender it started, if any
        conn.error = error
        _say(f"jaxinspect.connect: {conn.error}")
        return conn
    with _lock:
        _connection = conn
    _register_atexit()
    return conn


def _identity(inspector: Inspector, engine_id: int | None = None) -> Callable[[], dict[str, Any]]:
    def identity() -> dict[str, Any]:
        return {**envlib.process_identity(), "engine_id": engine_id, "doorbell": inspector.doorbell}

    return identity


def _shell() -> Any:
    try:
        from IPython import get_ipython  # noqa: PLC0415
    except ImportError:
        return None
    return get_ipython()


def engine_id_of(shell: Any) -> int | None:
    """The ipyparallel engine id of the kernel ``shell`` runs in, or None (not an engine)."""
    eid = getattr(getattr(shell, "kernel", None), "engine_id", None)
    if isinstance(eid, int) and not isinstance(eid, bool) and eid >= 0 and getattr(shell, "data_pub", None) is not None:
        return eid
    return None


def connect_engine(shell: Any, inspector: Inspector | None = None, buffers_every: float = 1.0) -> Connection:
    """Publish this ipyparallel engine's records through the cluster (``publish_data``): the
    notebook's ``jaxinspect.collect_processes(rc)`` shows them. Never raises."""
    eid = engine_id_of(shell)
    label = f"ipyparallel (engine {eid})"
    current = _current_or_closed(label)
    if current is not None:
        return current

    def inspector_of_its_own() -> Inspector:  # not loaded (%load_ext passes its own)
        own = Inspector(serve_comms=False)
        filename_map = getattr(getattr(shell, "compile", None), "_filename_map", None)
        own.start(cell_of=filename_map.get if isinstance(filename_map, dict) else None,
                  namespace=lambda: shell.user_ns)
        return own

    def publisher(insp: Inspector) -> remote.Outbox:
        return ippbridge.EnginePublisher(
            insp.hub, ippbridge.unparented(shell.data_pub), _identity(insp, eid), eid,
            on_identity=lambda _identity: _register_atexit(again=True),
        )

    return _publish(Connection(label), inspector, inspector_of_its_own, buffers_every, publisher,
                    cell_prefix="engine ")


_atexit_registered = False


def _register_atexit(again: bool = False) -> None:
    """Say goodbye at exit. ``again``: move it to the front of the exit handlers (they run
    last registered first): ``jax.distributed`` registers a shutdown that waits for every
    process, which must not keep the goodbye from being said."""
    global _atexit_registered
    if again and _atexit_registered:
        atexit.unregister(_close_at_exit)
        atexit.register(_close_at_exit)
    elif not _atexit_registered:
        _atexit_registered = True
        atexit.register(_close_at_exit)


def _close_at_exit() -> None:
    conn = _connection
    if conn is not None:
        with errors.guard("processes.atexit"):
            conn.close()


def current_connection() -> Connection | None:
    return _connection


def close_connection() -> None:
    conn = _connection
    if conn is not None:
        conn.close()
