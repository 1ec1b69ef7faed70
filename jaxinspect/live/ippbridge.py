"""Many processes through ipyparallel: engines publish through ipyparallel's own messaging.

On an engine (``%px %load_ext jaxinspect``): an ``EnginePublisher`` subscribes to the engine's
hub and sends each batch as ipyparallel's data publication does (an IOPub ``data_message``
signed with the cluster's session key, but without a parent request, so the notebook's Client
and the controller's database skip it), from its own thread, while a ``%%px`` cell runs and
between cells. Every publication carries the engine's identity, so a notebook that
starts listening late still knows who sent it.

In the notebook: an ``IppBridge`` listens on the controller's IOPub channel with its own socket
(the client's own dispatch keeps only the newest value per key), turns each publication into
``remote`` records stamped with the engine's id, and keeps one ``process`` record per engine.
An engine that leaves the cluster after its goodbye is ``done``; one that leaves without it
(killed, crashed) is ``lost``. No port, token or tunnel: the cluster's connection already spans
its hosts.

Bounded: at most ``remote.QUEUE`` batches wait on an engine, ``CHUNK`` records per publication,
``remote.MAX_PROCESSES`` engines. Nothing here raises into the caller; the threads never import.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .. import errors
from .remote import MAX_PROCESSES, WIRE_VERSION, Outbox, _Peer

KEY = "jaxinspect"  # the key of the published dict
CHUNK = 1000  # records per publication
ENGINES_EVERY = 1.0  # seconds between looks at the cluster's engine list


class EnginePublisher(Outbox):
    """An engine's end: every batch of ``hub`` goes out through ``send(dict)`` (``unparented``
    data publications) from its own thread."""

    def __init__(
        self,
        hub: Any,
        send: Callable[[dict[str, Any]], None],
        identity: Callable[[], dict[str, Any]],
        engine_id: int,
        on_identity: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self._send = send
        self._identity = identity
        self._on_identity = on_identity
        self.engine_id = self.id = engine_id
        self.address = f"ipyparallel (engine {engine_id})"
        super().__init__(hub, "jaxinspect-engine-publisher", "connected")  # connected | closed

    def _publish(self, kind: str, identity: dict[str, Any], records: list[dict[str, Any]]) -> None:
        self._send({KEY: {"v": WIRE_VERSION, "type": kind, "engine_id": self.engine_id,
                          "identity": identity, "dropped": self._take_drops(), "records": records}})
        with self._cond:
            self.sent += len(records)

    def _run(self) -> None:
        last_identity: dict[str, Any] | None = None
        try:
            while True:
                with self._cond:
                    if not self._queue and not self._closing:
                        self._cond.wait(1.0)
                    batches = list(self._queue)
                    self._queue.clear()
                    closing = self._closing
                identity = self._safe_identity()
                if identity != last_identity:
                    last_identity = identity
                    if self._on_identity is not None:
                        with errors.guard("engine_publisher.on_identity"):
                            self._on_identity(identity)
                records = [r for b in batches for r in b]
                try:
                    for i in range(0, len(records), CHUNK):
                        self._publish("batch", identity, records[i : i + CHUNK])
                    if closing:
                        self._publish("bye", identity, [])
                        return
                except Exception as exc:  # noqa: BLE001 - the engine's IOPub went away
                    with self._cond:
                        self.dropped += len(records)
                        self.error = f"{type(exc).__name__}: {exc}"
                    errors.record("engine_publisher.send", exc)
                    if closing:
                        return
        finally:
            with self._cond:
                self.state = "closed"


def unparented(data_pub: Any) -> Callable[[dict[str, Any]], None]:
    """``data_pub.publish_data`` without a parent: the engine's data publisher stamps each
    message with the request it runs (or ran last), and the notebook's Client then keeps the
    data in that request's metadata, the user's ``AsyncResult.data``, and the controller's task
    database. A message without a parent is skipped by both; ``IppBridge`` reads it anyway."""
    from ipyparallel.serialize import serialize_object

    def send(data: dict[str, Any]) -> None:
        session = data_pub.session
        buffers = serialize_object(
            data, buffer_threshold=session.buffer_threshold, item_threshold=session.item_threshold
        )
        session.send(data_pub.pub_socket, "data_message", content={"keys": list(data)}, parent={},
                     buffers=buffers, ident=data_pub.topic)  # fmt: skip

    return send


class BridgeError(Exception):
    """The ipyparallel client cannot be listened to (one line saying why and what to do)."""


class IppBridge:
    """The notebook's end: listens to the cluster's IOPub for engines' publications.

    ``publish(record_json)`` gets ``process`` and ``remote`` records (on the bridge's thread);
    ``on_tick()`` runs about once a second (the caller refreshes derived views there)."""

    def __init__(
        self,
        client: Any,
        publish: Callable[[dict[str, Any]], None],
        on_tick: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            import zmq
            from ipyparallel import serialize
            from jupyter_client.session import Session
        except ImportError as exc:  # pragma: no cover - ipyparallel brings both
            raise BridgeError(f"ipyparallel is not installed ({exc}); pip install ipyparallel") from exc
        config = getattr(client, "_config", None)
        session = getattr(client, "session", None)
        url = config.get("iopub") if isinstance(config, dict) else None
        if not isinstance(url, str) or session is None:
            raise BridgeError(
                f"cannot find the IOPub address of this {type(client).__name__}: pass an "
                "ipyparallel.Client (e.g. rc = cluster.start_and_connect_sync()) or an ipyparallel.Cluster"
            )
        self.client = client
        self._publish = publish
        self._on_tick = on_tick or (lambda: None)
        self._clock = clock
        self._deserialize_object = serialize.deserialize_object
        # its own Session: the client's remembers every signature it saw and would refuse ours
        self._session = Session(
            key=session.key, signature_scheme=session.signature_scheme,
            pack=session.pack, unpack=session.unpack,
        )
        self._zmq = zmq
        self._socket = zmq.Context.instance().socket(zmq.SUB)
        self._socket.setsockopt(zmq.SUBSCRIBE, b"")
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.connect(url)
        self.address = f"ipyparallel cluster ({url})"
        self._lock = threading.Lock()
        self._peers: dict[int, _Peer] = {}  # engine id -> peer
        self._bye: set[int] = set()
        self.engines: list[int] = list(self._engine_ids())
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jaxinspect-ipp-bridge", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return not self._stop.is_set()

    @property
    def env(self) -> dict[str, str]:
        return {}

    @property
    def token(self) -> str:
        return ""

    def processes(self) -> list[Any]:
        with self._lock:
            return [p.record() for p in self._peers.values()]

    def doorbells(self) -> dict[int, str]:
        """Engine id -> the signal that asks it for its stack, for connected engines with one."""
        with self._lock:
            return {
                eid: str(p.fields.get("doorbell"))
                for eid, p in self._peers.items()
                if p.state == "connected" and p.fields.get("doorbell")
            }

    def ring(self, engine_ids: list[int], signal_name: str) -> str | None:
        """Ask these engines for their stacks now (through their nannies; works while their
        main threads are blocked). Returns a problem, or None."""
        try:
            self.client.send_signal(signal_name, targets=list(engine_ids), block=False)
        except Exception as exc:  # noqa: BLE001
            return f"could not signal engines {engine_ids}: {type(exc).__name__}: {exc}"
        return None

    def silent_engines(self) -> list[int]:
        """Engines of the cluster that never published: jaxinspect is not loaded there."""
        with self._lock:
            return [e for e in self.engines if e not in self._peers]

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=3.0)
        with errors.guard("ippbridge.close"):
            self._socket.close(linger=0)
        with self._lock:
            peers = [p for p in self._peers.values() if p.state == "connected"]
            for p in peers:
                p.state, p.note = "done", "the notebook stopped listening"
        for p in peers:
            self._publish_process(p, force=True)

    # -- the bridge's thread ---------------------------------------------------------------
    def _engine_ids(self) -> list[int]:
        try:
            return sorted(int(i) for i in self.client.ids)
        except Exception as exc:  # noqa: BLE001
            errors.record("ippbridge.ids", exc)
            return list(getattr(self, "engines", []))

    def _run(self) -> None:
        zmq = self._zmq
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        next_look = self._clock() + ENGINES_EVERY
        while not self._stop.is_set():
            try:
                ready = dict(poller.poll(250))
                if self._socket in ready:
                    for _ in range(200):  # drain, but look at the engines now and then
                        try:
                            raw = self._socket.recv_multipart(zmq.NOBLOCK, copy=False)
                        except zmq.Again:
                            break
                        self._on_raw(raw)
                now = self._clock()
                if now >= next_look:
                    next_look = now + ENGINES_EVERY
                    self._look_at_engines()
                    for p in self._due():
                        self._publish_process(p)
                    with errors.guard("ippbridge.tick"):
                        self._on_tick()
            except Exception as exc:  # noqa: BLE001
                if self._stop.is_set():
                    return
                errors.record("ippbridge.run", exc)
                time.sleep(0.25)

    def _on_raw(self, raw: list[Any]) -> None:
        try:
            _idents, parts = self._session.feed_identities(raw, copy=False)
            msg = self._session.deserialize(parts, content=True, copy=False)
        except Exception:  # noqa: BLE001 - not signed with the cluster's key, or not a message
            self.refused += 1
            return
        if msg["header"].get("msg_type") != "data_message":
            return
        keys = (msg.get("content") or {}).get("keys") or []
        if KEY not in keys:
            return
        try:
            data, _rest = self._deserialize_object(msg["buffers"])
        except Exception as exc:  # noqa: BLE001
            errors.record("ippbridge.deserialize", exc)
            return
        payload = data.get(KEY) if isinstance(data, dict) else None
        if isinstance(payload, dict):
            self._on_publication(payload)

    def _on_publication(self, msg: dict[str, Any]) -> None:
        if msg.get("v") != WIRE_VERSION:
            self.refused += 1
            return
        eid = msg.get("engine_id")
        if not isinstance(eid, int) or isinstance(eid, bool):
            return
        if msg.get("type") != "bye":
            with self._lock:  # a new publisher after a goodbye (%unload_ext, %load_ext): back
                self._bye.discard(eid)  # (a goodbye is its publisher's last message)
        peer = self._peer(eid, msg.get("identity"))
        if peer is None:
            return
        records = msg.get("records")
        if isinstance(records, list) and records:
            index = int(peer.fields["process_index"])
            for record in records:
                if isinstance(record, dict) and isinstance(record.get("kind"), str):
                    self._publish({"kind": "remote", "source": peer.id, "process_index": index,
                                   "record": record})
        with self._lock:
            peer.records += len(records) if isinstance(records, list) else 0
            dropped = msg.get("dropped")
            if isinstance(dropped, int) and dropped > 0:
                peer.dropped += dropped
            peer.last_seen = self._clock()
            if msg.get("type") == "bye":
                self._bye.add(eid)
                peer.state = "done"
                peer.note = None
        self._publish_process(peer, force=msg.get("type") == "bye")

    def _peer(self, eid: int, identity: Any) -> _Peer | None:
        identity = identity if isinstance(identity, dict) else {}
        now = self._clock()
        changed = False
        with self._lock:
            peer = self._peers.get(eid)
            if peer is None:
                if len(self._peers) >= MAX_PROCESSES:
                    return None
                peer = self._peers[eid] = _Peer(eid, None, now, transport="ipyparallel")
                peer.fields["engine_id"] = eid
                changed = True
            elif peer.state != "connected" and eid not in self._bye:
                peer.state, peer.note, changed = "connected", None, True  # back after a restart
            for key in peer.fields:
                if key in identity and key != "engine_id" and peer.fields[key] != identity[key]:
                    peer.fields[key] = identity[key]
                    changed = True
        if changed:
            self._publish_process(peer, force=True)
        return peer

    def _look_at_engines(self) -> None:
        ids = self._engine_ids()
        gone = []
        with self._lock:
            self.engines = ids
            for eid, peer in self._peers.items():
                if eid not in ids and peer.state == "connected":
                    peer.state = "lost"
                    peer.note = "its engine left the cluster without a goodbye (killed or crashed)"
                    peer.last_seen = self._clock()
                    gone.append(peer)
        for peer in gone:
            self._publish_process(peer, force=True)

    def _due(self) -> list[_Peer]:
        with self._lock:
            return [p for p in self._peers.values() if p.dirty]

    def _publish_process(self, peer: _Peer, force: bool = False) -> None:
        with self._lock:
            now = self._clock()
            if not force and now - peer.published < 1.0:
                peer.dirty = True
                return
            peer.published, peer.dirty = now, False
            rec = peer.record()
        with errors.guard("ippbridge.publish"):
            self._publish(rec.to_json())
