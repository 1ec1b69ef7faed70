"""Many processes, one notebook: a loopback collector and the forwarder that publishes to it.

A multi-controller JAX job runs one Python process per host (``jax.distributed``), each with its
own compiles and device memory. The notebook's kernel runs a ``CollectorServer`` on 127.0.0.1;
each process of the job runs a ``Forwarder`` that subscribes to its own hub and sends every batch
as lines of JSON. The collector republishes each record wrapped as ``remote`` (with the sender's
connection id and process index) and keeps one ``process`` record per connection, so the sidebar
shows all processes side by side without mixing them into the kernel's own views.

Wire (one JSON object per line, UTF-8):

- sender → collector: ``hello`` {v, type, token, process_index, process_count, host, pid,
  jax_version, backend, devices}, then ``batch`` {type, records, dropped}, ``info`` (the hello's
  fields, when they change: e.g. ``jax.distributed`` started) and ``bye``.
- collector → sender: ``welcome`` {type, id} or ``error`` {type, message}, once, after hello.

Bounded everywhere: a line is at most ``MAX_LINE`` bytes (a longer one ends the connection, which
is noted on its process), at most ``MAX_PROCESSES`` connections are served, a sender keeps at most
``QUEUE`` batches while the collector is away (older ones are counted as dropped). Loopback only:
another host is refused with a message that says how to forward the port.

Nothing here imports (the threads would deadlock on the import lock while the user's thread
imports) and nothing raises into the caller: failures are recorded and said once.
"""

from __future__ import annotations

import hmac
import itertools
import json
import secrets
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .. import errors
from ..records import ProcessRecord

WIRE_VERSION = 1
MAX_LINE = 4 << 20  # bytes per line the collector accepts
SEND_CHUNK = 1 << 20  # a sender splits a batch into lines of about this size
MAX_PROCESSES = 256
QUEUE = 512  # batches a sender holds while the collector is unreachable
ENV_ADDRESS = "JAXINSPECT_COLLECTOR"
ENV_TOKEN = "JAXINSPECT_COLLECTOR_TOKEN"
PROCESS_RECORD_EVERY = 1.0  # seconds between `process` updates while records stream in
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class AddressError(ValueError):
    """A collector address that is malformed or not on loopback."""


def parse_address(address: Any) -> tuple[str, int]:
    """``"127.0.0.1:40123"`` (or ``tcp://…``, ``localhost:…``, ``[::1]:…``) → (host, port)."""
    if not isinstance(address, str) or not address.strip():
        raise AddressError(
            f"collector address {address!r} is empty; use the address that "
            "jaxinspect.collect_processes() shows in the notebook, e.g. '127.0.0.1:40123'"
        )
    text = address.strip()
    if text.startswith("tcp://"):
        text = text[len("tcp://") :]
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise AddressError(
            f"collector address {address!r} is not HOST:PORT; use the address that "
            "jaxinspect.collect_processes() shows in the notebook, e.g. '127.0.0.1:40123'"
        )
    if host not in LOOPBACK:
        raise AddressError(
            f"collector address {address!r} is not on this machine: jaxinspect only sends to "
            f"loopback. For a process on another host, forward the port from the notebook's host "
            f"(ssh -N -R {port}:127.0.0.1:{port} THAT_HOST) and use '127.0.0.1:{port}' there"
        )
    return ("127.0.0.1" if host == "localhost" else host), int(port)


def _encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=str).encode() + b"\n"


# -- collector (the notebook's kernel) ---------------------------------------------------------


class _Peer:
    """One connection's bookkeeping (guarded by the server's lock)."""

    def __init__(self, pid: int, conn: socket.socket | None, now: float, transport: str = "loopback") -> None:
        self.id = pid
        self.conn = conn
        self.transport = transport
        self.fields: dict[str, Any] = {
            "process_index": 0,
            "process_count": 1,
            "host": "?",
            "pid": 0,
            "jax_version": None,
            "backend": None,
            "devices": (),
            "engine_id": None,
            "doorbell": None,  # the signal that asks the process for its stack now
        }
        self.state = "connected"
        self.connected_at = now
        self.last_seen = now
        self.records = 0
        self.dropped = 0
        self.note: str | None = None
        self.published = 0.0
        self.dirty = False  # counts changed since the last `process` record

    def record(self) -> ProcessRecord:
        f = self.fields
        return ProcessRecord(
            id=self.id,
            process_index=int(f["process_index"]),
            process_count=int(f["process_count"]),
            host=str(f["host"])[:200],
            pid=int(f["pid"]),
            state=self.state,
            connected_at=self.connected_at,
            last_seen=self.last_seen,
            records=self.records,
            dropped=self.dropped,
            jax_version=None if f["jax_version"] is None else str(f["jax_version"])[:50],
            backend=None if f["backend"] is None else str(f["backend"])[:50],
            devices=tuple(str(d)[:200] for d in list(f["devices"] or ())[:1024]),
            note=self.note,
            engine_id=f["engine_id"] if isinstance(f["engine_id"], int) else None,
            transport=self.transport,  # type: ignore[arg-type]
            doorbell=str(f["doorbell"])[:20] if f["doorbell"] else None,
        )


class CollectorServer:
    """A loopback TCP endpoint that turns other processes' batches into ``remote`` records.

    ``publish(record_json)`` is called on the connection threads (it must be thread-safe; a hub's
    ``publish`` is). The token keeps other local users' processes out."""

    def __init__(
        self,
        publish: Callable[[dict[str, Any]], None],
        port: int = 0,
        token: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._publish = publish
        self._clock = clock
        self.token = token or secrets.token_hex(16)
        self._sock = socket.create_server(("127.0.0.1", int(port)))
        self._sock.settimeout(0.25)
        self.port = self._sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._peers: dict[int, _Peer] = {}
        self._by_origin: dict[tuple[str, int], int] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.refused = 0
        self._accept = threading.Thread(
            target=self._accept_loop, name="jaxinspect-collector", daemon=True
        )
        self._accept.start()

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that make ``jaxinspect.connect()`` publish here."""
        return {ENV_ADDRESS: self.address, ENV_TOKEN: self.token}

    @property
    def running(self) -> bool:
        return not self._stop.is_set()

    def processes(self) -> list[ProcessRecord]:
        with self._lock:
            return [p.record() for p in self._peers.values()]

    def close(self) -> None:
        """Stop accepting, end every connection (their processes become ``done``). Idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        with errors.guard("collector.close"):
            self._sock.close()
        with self._lock:
            conns = [p.conn for p in self._peers.values() if p.state == "connected"]
        for conn in conns:
            with errors.guard("collector.close_conn"):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in [self._accept, *self._threads]:
            if thread is not threading.current_thread():
                thread.join(timeout=2.0)

    # -- threads ---------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            self._publish_due()
            try:
                conn, _addr = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            try:
                with self._lock:
                    live = sum(1 for p in self._peers.values() if p.state == "connected")
                if live >= MAX_PROCESSES:
                    self.refused += 1
                    conn.sendall(
                        _encode({"type": "error", "message": f"the collector already serves "
                                 f"{MAX_PROCESSES} processes"})
                    )
                    conn.close()
                    continue
                conn.settimeout(None)
                thread = threading.Thread(
                    target=self._serve, args=(conn,), name="jaxinspect-collector-conn", daemon=True
                )
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
                thread.start()
            except Exception as exc:  # noqa: BLE001
                errors.record("collector.accept", exc)

    def _publish_due(self) -> None:
        """Trailing `process` updates: counts that changed within the last second."""
        with self._lock:
            due = [p for p in self._peers.values() if p.dirty]
        for peer in due:
            self._publish_process(peer)

    def _serve(self, conn: socket.socket) -> None:
        peer: _Peer | None = None
        said_bye = False
        try:
            reader = conn.makefile("rb")
            hello = self._read(reader)
            if hello is None:
                return
            problem = self._check_hello(hello)
            if problem is not None:
                self.refused += 1
                conn.sendall(_encode({"type": "error", "message": problem}))
                return
            peer = self._register(conn, hello)
            conn.sendall(_encode({"type": "welcome", "id": peer.id}))
            self._publish_process(peer, force=True)
            while not self._stop.is_set():
                try:
                    msg = self._read(reader)
                except ValueError as exc:
                    peer.note = str(exc)
                    return
                if msg is None:
                    return
                kind = msg.get("type")
                if kind == "batch":
                    self._on_batch(peer, msg)
                elif kind == "info":
                    self._update_fields(peer, msg)
                    self._publish_process(peer, force=True)
                elif kind == "bye":
                    said_bye = True
                    return
        except (OSError, ValueError):
            pass  # the peer went away mid-line: `lost` below
        except Exception as exc:  # noqa: BLE001
            errors.record("collector.serve", exc)
        finally:
            with errors.guard("collector.close_conn"):
                conn.close()
            if peer is not None:
                with self._lock:
                    peer.state = "done" if said_bye or self._stop.is_set() else "lost"
                    peer.last_seen = self._clock()
                self._publish_process(peer, force=True)

    def _read(self, reader: Any) -> dict[str, Any] | None:
        line = reader.readline(MAX_LINE + 1)
        if not line:
            return None
        if len(line) > MAX_LINE:
            raise ValueError(f"a message over {MAX_LINE >> 20} MiB was refused; connection closed")
        msg = json.loads(line)
        if not isinstance(msg, dict):
            raise ValueError("a message that is not a JSON object was refused; connection closed")
        return msg

    def _check_hello(self, hello: dict[str, Any]) -> str | None:
        if hello.get("type") != "hello":
            return "the first message must be hello"
        if hello.get("v") != WIRE_VERSION:
            return (
                f"this process's jaxinspect speaks collector protocol v{hello.get('v')} but the "
                f"notebook's speaks v{WIRE_VERSION}: install the same jaxinspect version in both"
            )
        token = hello.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(token, self.token):
            return (
                "wrong collector token: pass the token of the notebook's collector "
                f"({ENV_TOKEN}, or collector.env)"
            )
        return None

    def _register(self, conn: socket.socket, hello: dict[str, Any]) -> _Peer:
        now = self._clock()
        origin = (str(hello.get("host")), int(hello.get("pid") or 0))
        with self._lock:
            known = self._by_origin.get(origin)
            peer = self._peers.get(known) if known is not None else None
            if peer is None or peer.state == "connected":
                peer = _Peer(next(self._ids), conn, now)
                self._peers[peer.id] = peer
                self._by_origin[origin] = peer.id
                self._forget_old()
            else:  # the same process reconnected: same column, counts go on
                peer.conn, peer.state, peer.last_seen, peer.note = conn, "connected", now, None
        self._update_fields(peer, hello)
        return peer

    def _forget_old(self) -> None:
        """Keep at most MAX_PROCESSES entries: the oldest ended ones go first (lock held)."""
        ended = [p for p in self._peers.values() if p.state != "connected"]
        while len(self._peers) > MAX_PROCESSES and ended:
            old = ended.pop(0)
            del self._peers[old.id]

    def _update_fields(self, peer: _Peer, msg: dict[str, Any]) -> None:
        with self._lock:
            for key in peer.fields:
                if key in msg:
                    peer.fields[key] = msg[key]
            peer.last_seen = self._clock()

    def _on_batch(self, peer: _Peer, msg: dict[str, Any]) -> None:
        records = msg.get("records")
        if not isinstance(records, list):
            return
        index = int(peer.fields["process_index"])
        for record in records:
            if isinstance(record, dict) and isinstance(record.get("kind"), str):
                self._publish(
                    {"kind": "remote", "source": peer.id, "process_index": index, "record": record}
                )
        with self._lock:
            peer.records += len(records)
            dropped = msg.get("dropped")
            if isinstance(dropped, int) and dropped > 0:
                peer.dropped += dropped
            peer.last_seen = self._clock()
        self._publish_process(peer)

    def _publish_process(self, peer: _Peer, force: bool = False) -> None:
        with self._lock:
            now = self._clock()
            if not force and now - peer.published < PROCESS_RECORD_EVERY:
                peer.dirty = True  # the accept loop sends it when due
                return
            peer.published, peer.dirty = now, False
            rec = peer.record()
        with errors.guard("collector.publish"):
            self._publish(rec.to_json())


# -- sender (each process of the job) ----------------------------------------------------------


class Outbox:
    """What every sender of a process's records shares: it subscribes to ``hub`` (with the
    history so far), keeps at most ``QUEUE`` batches (older ones counted as dropped) and runs
    ``self._run`` on its own thread, so the caller never blocks. Subclasses set their own fields
    before calling ``__init__`` (the thread starts there) and implement ``_run``."""

    address: str
    id: int | None = None  # the receiving end's id for this process, once known
    _identity: Callable[[], dict[str, Any]]

    def __init__(self, hub: Any, thread_name: str, state: str) -> None:
        self._cond = threading.Condition()
        self._queue: deque[list[dict[str, Any]]] = deque()
        self.dropped = 0  # records dropped here (queue full, too large, lost on a broken send)
        self._reported = 0  # drops already told to the receiving end
        self.sent = 0
        self.state = state
        self.error: str | None = None
        self._closing = False
        self._hub = hub
        token, replay = hub.subscribe_with_replay(self._on_batch)
        self._hub_token = token
        if replay:
            self._queue.append(replay)
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        raise NotImplementedError

    def _safe_identity(self) -> dict[str, Any]:
        """``self._identity()`` (set by the subclass), or {} when it fails (recorded)."""
        try:
            return dict(self._identity())
        except Exception as exc:  # noqa: BLE001
            errors.record(f"{type(self).__name__.lower()}.identity", exc)
            return {}

    def _on_batch(self, batch: dict[str, Any]) -> None:
        """Hub flusher thread: queue the batch (bounded), wake the sender."""
        records = batch.get("records") or []
        with self._cond:
            if self._closing and self.state != "connected":
                return
            if len(self._queue) >= QUEUE:
                self.dropped += len(self._queue.popleft())
            self._queue.append(records)
            self.dropped += sum((batch.get("dropped") or {}).values())
            self._cond.notify()

    def _take_drops(self) -> int:
        """Records dropped since the last time the receiving end was told (and now it is)."""
        with self._cond:
            dropped, self._reported = self.dropped - self._reported, self.dropped
        return dropped

    def close(self, timeout: float = 2.0) -> None:
        """Send what is queued (up to ``timeout`` s), say goodbye and stop. Idempotent."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify()
        self._hub.unsubscribe(self._hub_token)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=timeout)

    def status(self) -> dict[str, Any]:
        with self._cond:
            return {
                "address": self.address,
                "state": self.state,
                "id": self.id,
                "sent": self.sent,
                "queued": sum(len(b) for b in self._queue),
                "dropped": self.dropped,
                "error": self.error,
            }


class Forwarder(Outbox):
    """Sends every batch of ``hub`` to a collector, from its own thread; never blocks the caller.

    ``identity()`` gives the hello's fields (process index and count, host, pid, versions,
    devices); it runs on the sender thread and must not import. The forwarder reconnects after a
    drop; while the collector is away it keeps at most ``QUEUE`` batches."""

    def __init__(
        self,
        hub: Any,
        address: str,
        token: str,
        identity: Callable[[], dict[str, Any]],
        say: Callable[[str], None] | None = None,
        retry_s: float = 2.0,
    ) -> None:
        self.host, self.port = parse_address(address)
        self.address = f"{self.host}:{self.port}"
        self._token = token
        self._identity = identity
        self._say = say or (lambda text: print(text, file=sys.stderr))
        self._said: set[str] = set()
        self.retry_s = retry_s
        super().__init__(hub, "jaxinspect-forwarder", "connecting")  # connecting | connected | refused | closed

    # -- sender thread ---------------------------------------------------------------------
    def _tell(self, key: str, text: str) -> None:
        """Say ``text`` once per ``key`` (a down collector must not print every retry)."""
        if key not in self._said:
            self._said.add(key)
            with errors.guard("forwarder.say"):
                self._say(text)

    def _run(self) -> None:
        sock: socket.socket | None = None
        sent_identity: dict[str, Any] | None = None
        try:
            while True:
                if sock is None:
                    with self._cond:
                        if self._closing and not self._queue:
                            return
                    sock, sent_identity = self._connect()
                    if sock is None:
                        if self.state == "refused":
                            return
                        with self._cond:
                            if self._closing:
                                return  # closing with no collector: nothing more to try
                            self._cond.wait(self.retry_s)
                        continue
                with self._cond:
                    if not self._queue and not self._closing:
                        self._cond.wait(1.0)
                    batches = list(self._queue)
                    self._queue.clear()
                    closing = self._closing
                try:
                    identity = self._safe_identity()
                    if identity != sent_identity:
                        sock.sendall(_encode({"type": "info", **identity}))
                        sent_identity = identity
                    for records in batches:
                        self._send_batch(sock, records)
                        batches = batches[1:]
                    if closing:
                        sock.sendall(_encode({"type": "bye"}))
                        return
                except OSError as exc:
                    with self._cond:
                        self.dropped += sum(len(b) for b in batches)
                        self.state = "connecting"
                    self._tell("lost", f"jaxinspect: lost the collector at {self.address} "
                               f"({exc}); reconnecting")
                    with errors.guard("forwarder.close"):
                        sock.close()
                    sock = None
        except Exception as exc:  # noqa: BLE001
            errors.record("forwarder.run", exc)
        finally:
            with self._cond:
                if self.state != "refused":
                    self.state = "closed"
            if sock is not None:
                with errors.guard("forwarder.close"):
                    sock.close()

    def _connect(self) -> tuple[socket.socket | None, dict[str, Any] | None]:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=5.0)
        except OSError as exc:
            self._tell(
                "unreachable",
                f"jaxinspect: cannot reach the collector at {self.address} ({exc}); retrying "
                f"every {self.retry_s:g} s. Is jaxinspect.collect_processes() running in the "
                "notebook, and is this its address?",
            )
            return None, None
        try:
            identity = self._safe_identity()
            sock.sendall(_encode({"v": WIRE_VERSION, "type": "hello", "token": self._token,
                                  **identity}))
            reply = json.loads(sock.makefile("rb").readline(65536) or b"{}")
            if reply.get("type") != "welcome":
                message = str(reply.get("message") or "no answer")
                with self._cond:
                    self.state, self.error = "refused", message
                self._tell("refused", f"jaxinspect: the collector at {self.address} refused this "
                           f"process: {message}")
                sock.close()
                return None, None
            sock.settimeout(10.0)
            with self._cond:
                self.state, self.id, self.error = "connected", reply.get("id"), None
            self._said.discard("lost")
            return sock, identity
        except (OSError, ValueError) as exc:
            with errors.guard("forwarder.close"):
                sock.close()
            self._tell("handshake", f"jaxinspect: no answer from the collector at "
                       f"{self.address} ({exc}); retrying")
            return None, None

    def _send_batch(self, sock: socket.socket, records: list[dict[str, Any]]) -> None:
        """Send ``records`` as lines of at most about SEND_CHUNK bytes; each line also reports
        the records dropped here since the last one."""
        chunk: list[bytes] = []
        size = 0

        def send() -> None:
            nonlocal chunk, size
            head = b'{"type":"batch","dropped":%d,"records":[' % self._take_drops()
            sock.sendall(head + b",".join(chunk) + b"]}\n")
            with self._cond:
                self.sent += len(chunk)
            chunk, size = [], 0

        for record in records:
            data = json.dumps(record, separators=(",", ":"), default=str).encode()
            if len(data) > MAX_LINE - 1024:
                with self._cond:
                    self.dropped += 1
                continue
            if chunk and size + len(data) > SEND_CHUNK:
                send()
            chunk.append(data)
            size += len(data) + 1
        if chunk or self.dropped != self._reported:
            send()
