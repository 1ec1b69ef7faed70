"""The composition root: one Inspector per loaded IPython shell wires collectors to the live layer."""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from typing import Any

from .. import errors, protocol
from .._version import __version__
from ..analyze.bufferstats import BufferTracker
from ..analyze.compilestats import CompileLog
from ..collect import bufferlib, compat, compilelib, envlib, keyslib, paramlib, stacklib
from ..config import config
from ..live.hub import Hub
from ..live.kernelstate import KernelState
from ..live.liveness import LivenessThread
from ..live.sampler import Sampler
from ..live.transport import CommTransport
from ..records import CompileEvent
from ..render import jaxprview
from .display import Message
from .tracing import compile_diff

BUFFER_MIN_INTERVAL = 0.25
MONITOR_INTERVAL = 1.0  # seconds between buffer / params samples for an in-cell monitor
BUFFER_DUTY = 50  # wait at least 50× a snapshot's cost before the next (≤ ~2% of the time)


class Inspector:
    """Owns the hub, the heartbeat, the sampler and the comm transport of one kernel."""

    def __init__(
        self, comm_manager: Any = None, create_comm: Any = None, serve_comms: bool = True
    ) -> None:
        """``serve_comms=False``: no Jupyter comms (a process of a multi-process job that only
        publishes to a collector, see ``glue.processes``)."""
        self.hub = Hub(
            capacities={
                "compile": config.compile_capacity,
                "buffers": 60,
                "buffer_alert": 100,
                "params_watch": 200,
                "params_alert": 100,
                "keys": 5,
                "key_reuse": 100,
                "process": 256,
                "remote": 5000,
                "processes": 2,  # derived by the collector's table: the newest replaces the rest
                "liveness": 5,
                "stack": 5,
            }
        )
        self.buffer_tracker = BufferTracker()
        self.buffer_interval = 0.0  # seconds between buffer snapshots while someone watches
        self._buffer_due = 0.0
        self._buffer_lock = threading.Lock()
        self.namespace: Any = None
        self.watcher = paramlib.Watcher(on_alert=self._on_params_alert)
        self.params_interval = 0.0
        self._params_due = 0.0
        self.compile_log = CompileLog(config.storm_threshold, config.compile_capacity)
        self.compiles = compilelib.collector()
        self.kernel = KernelState(self.hub)
        self.sampler = Sampler(interval=0.5)
        self.env: dict[str, Any] = {}
        self.transport: CommTransport | None = None
        if serve_comms:
            self.transport = CommTransport(
                self.hub,
                hello=self.hello,
                comm_manager=comm_manager,
                create_comm=create_comm,
                on_subscribers_changed=self._subscribers_changed,
            )
            self.transport.register_method("compile_diff", self._compile_diff)
            self.transport.register_method("interest", self._interest)
            self.transport.register_method("track_keys", self._track_keys)
            self.transport.register_method("configure", self._configure)
        self.forwarders: list[Any] = []  # glue.processes: this process publishes to a collector
        self._liveness: LivenessThread | None = None
        self._doorbell: stacklib.Doorbell | None = None
        self._cell_of: Any = None
        # progress as far as it is seen without touching jit's call path (liveness records)
        self.last_step: int | None = None
        self.last_step_time: float | None = None
        self.last_compile: str | None = None
        self.last_compile_time: float | None = None
        self._keys_version = -1
        self.monitors: list[Any] = []
        self._keys_due = 0.0
        self.sampler.add_task("heartbeat", self.kernel.publish_status)
        self._last_sweep = time.monotonic()
        self.sampler.add_task("sweep", self._sweep_sidebars)
        self.sampler.add_task("env", self.refresh_env)
        self.sampler.add_task("buffers", lambda: self.sample_buffers("sampler"))
        self.sampler.add_task("params", self.sample_params)
        self.sampler.add_task("keys", self.publish_keys)
        errors.add_sink(self._on_internal_error)

    def start(self, cell_of: Any = None, namespace: Any = None) -> None:
        self.namespace = namespace
        self._cell_of = cell_of
        self.refresh_env(force=True)
        self.kernel.publish_status()
        self.compiles.cell_of = cell_of
        with errors.guard("inspector.attach_compiles"):  # e.g. jax not installed
            self.compiles.attach(self._on_compile)
        tracker = keyslib.tracker()
        tracker.cell_of = cell_of
        tracker.sinks.append(self._on_key_reuse)
        if config.track_keys_on_load and not tracker.tracking:
            with errors.guard("inspector.track_keys_on_load"):
                tracker.start(on_reuse=tracker.on_reuse, cell_of=cell_of)
        if self.transport is not None:
            self.transport.start()

    def close(self) -> None:
        """Stop everything this inspector started. Idempotent."""
        errors.remove_sink(self._on_internal_error)
        for monitor in list(self.monitors):
            with errors.guard("inspector.close_monitor"):
                monitor.close(widgets=True)
        self.compiles.detach(self._on_compile)
        tracker = keyslib.tracker()
        if self._on_key_reuse in tracker.sinks:
            tracker.sinks.remove(self._on_key_reuse)
        with errors.guard("inspector.stop_keys"):
            tracker.stop()  # %unload_ext removes every hook, jax.random's wrappers included
        for forwarder in list(self.forwarders):
            with errors.guard("inspector.close_forwarder"):
                forwarder.close()
        self.stop_liveness()
        if self.transport is not None:
            self.transport.stop()
        self.sampler.stop()
        with errors.guard("inspector.close_watcher"):
            self.watcher.close()
        self.hub.close()

    # -- liveness (a process that publishes to a collector) ---------------------------------
    def progress(self) -> dict[str, Any]:
        return {
            "last_step": self.last_step,
            "last_step_time": self.last_step_time,
            "last_compile": self.last_compile,
            "last_compile_time": self.last_compile_time,
        }

    def note_step(self, step: Any) -> None:
        """monitor.log() / watch(step=): the newest step, for liveness (O(1))."""
        if isinstance(step, int) and not isinstance(step, bool):
            self.last_step, self.last_step_time = step, time.time()

    @property
    def doorbell(self) -> str | None:
        """The signal that asks this process for its stack now (None: no doorbell)."""
        bell = self._doorbell
        return bell.name if bell is not None else None

    def start_liveness(self, cell_prefix: str = "") -> None:
        """Read the main thread every second and publish ``liveness`` (and, when it has waited
        at one place for ``config.stuck_after_s`` or the doorbell rang, ``stack``) records."""
        if self._liveness is not None:
            return
        probe = stacklib.Probe(cell_of=self._cell_of, progress=self.progress, cell_prefix=cell_prefix)
        self._doorbell = bell = stacklib.Doorbell()

        def read(asked: bool) -> None:
            rec, stack = probe.read(asked)
            self.hub.publish(rec.to_json())
            if stack is not None:
                self.hub.publish(stack.to_json())

        self._liveness = LivenessThread(read, bell.wait)
        self._liveness.start()

    def stop_liveness(self) -> None:
        thread, self._liveness = self._liveness, None
        if thread is not None:
            thread.stop()
        bell, self._doorbell = self._doorbell, None
        if bell is not None:
            bell.close()

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
            "sidebars": self.sidebars,
            "sampler_running": self.sampler.running,
        }

    def _sweep_sidebars(self) -> None:
        """Drop sidebars that stopped pinging (pages closed without a goodbye)."""
        now = time.monotonic()
        dt, self._last_sweep = now - self._last_sweep, now
        if self.transport is not None:
            self.transport.sweep(dt, busy=self.kernel.busy)

    @property
    def sidebars(self) -> int:
        return 0 if self.transport is None else self.transport.push_comm_count

    # -- callbacks -------------------------------------------------------------------------
    def _subscribers_changed(self, n: int) -> None:
        if n > 0:
            self.sampler.start()
        elif self.monitors or self.forwarders:
            pass  # an in-cell monitor or a collector still shows the sampled views
        else:
            self.buffer_interval = 0.0  # nobody left to watch the Buffers / Params tabs
            self.params_interval = 0.0
            self.sampler.stop()

    # -- buffers ---------------------------------------------------------------------------
    def _interest(self, params: Any) -> dict[str, Any]:
        """RPC: what the frontend is looking at. ``{"buffers": seconds}`` samples the live arrays,
        ``{"params": seconds}`` the watched parameter trees, every ``seconds`` (0: stop) while a
        sidebar is subscribed. A key left out keeps its current setting."""
        if not isinstance(params, dict) or not ({"buffers", "params"} & set(params)):
            raise ValueError("interest needs {'buffers': seconds} and/or {'params': seconds}")
        out = {}
        for key in ("buffers", "params"):
            if key not in params:
                continue
            seconds = params[key] or 0
            if not isinstance(seconds, (int, float)) or seconds < 0:
                raise ValueError(f"interest: {key!r} must be a number of seconds >= 0, got {seconds!r}")
            value = 0.0 if seconds == 0 else min(max(float(seconds), BUFFER_MIN_INTERVAL), 60.0)
            if key == "buffers":
                self.buffer_interval = value
                self._buffer_due = 0.0  # a first snapshot right away
            else:
                self.params_interval = value
                self._params_due = 0.0
            out[key] = value
        return out

    def sample_params(self) -> None:
        """Sample the watched parameter trees if someone watches and it is due (same ~2% CPU
        cap as buffers)."""
        interval = self.params_interval
        if interval <= 0 or not self.watcher.names or time.monotonic() < self._params_due:
            return
        cpu = time.thread_time()
        variants = paramlib.compiled_variants()
        records, alerts = self.watcher.sample(interval)
        cost = time.thread_time() - cpu
        if paramlib.compiled_variants() != variants:
            cost = 0.0  # this sample compiled the sampling function for new shapes: a one-off
        gap = max(interval, BUFFER_DUTY * cost)
        self._params_due = time.monotonic() + gap
        for rec in records:
            self.hub.publish(dataclasses.replace(rec, interval_s=gap).to_json())
        for alert in alerts:
            self._on_params_alert(alert)

    def _on_params_alert(self, alert: Any) -> None:
        """An exact NaN/Inf alert of a watched tree (from the check's reader thread): published
        at once, whether or not anyone samples the Params tab."""
        self.hub.publish(alert.to_json())
        if config.print_alerts:
            at = f" (watched at {alert.watched_at.text})" if getattr(alert, "watched_at", None) else ""
            print(f"jaxinspect: {alert.message}{at}. Fix: {alert.hint}", file=sys.stderr)

    def sample_buffers(self, trigger: str) -> None:
        """Take a snapshot if someone watches and it is due. The gap after a snapshot is at
        least ``BUFFER_DUTY`` × its cost, so sampling never takes more than ~2% of the time."""
        interval = self.buffer_interval
        if interval <= 0:
            return
        now = time.monotonic()
        if trigger == "sampler" and now < self._buffer_due:
            return
        if not self._buffer_lock.acquire(blocking=False):
            return  # the main thread (post_run_cell) is taking one
        try:
            ns = self.namespace() if callable(self.namespace) else None
            cpu = time.thread_time()
            snap = bufferlib.take_snapshot(
                ns, cell_of=self.compiles.cell_of, cooperative=trigger == "sampler"
            )
            cost = time.thread_time() - cpu  # CPU spent (wall time includes GIL yields)
            gap = max(interval, BUFFER_DUTY * cost)  # what the sampler really achieves
            record, alerts = self.buffer_tracker.add(snap, trigger, gap)
            del snap
            self._buffer_due = time.monotonic() + gap
            self.publish_buffers(record, alerts)
        finally:
            self._buffer_lock.release()

    def cell_finished_buffers(self) -> None:
        """Between cells: one snapshot, so growth from cell to cell is seen too."""
        self.sample_buffers("cell")

    def publish_buffers(self, record: Any, alerts: list) -> None:
        self.hub.publish(record.to_json())
        for alert in alerts:
            self.hub.publish(alert.to_json())
            if config.print_alerts:
                print(f"jaxinspect: {alert.message}. Fix: {alert.hint}", file=sys.stderr)

    def _on_compile(self, event: CompileEvent) -> None:
        """Runs inline in JAX's compile path: bookkeeping only, then hand records to the hub."""
        self.compile_log.storm_threshold = config.storm_threshold
        if not event.internal:
            self.last_compile, self.last_compile_time = event.fun_name, time.time()
        stats, alerts = self.compile_log.add_all(event)
        self.hub.publish(event.to_json())
        self.hub.publish(stats.to_json())
        for alert in alerts:  # a recompile storm, and/or temporaries too big for the device
            self.hub.publish(alert.to_json())
            if config.print_alerts:
                print(f"jaxinspect: {alert.message}. Fix: {alert.hint}", file=sys.stderr)

    def _compile_diff(self, params: Any) -> dict[str, Any]:
        """RPC from the Compiles tab: the jaxpr diff of one recompile, as text. Re-traces with
        abstract values only (no device buffers are touched), on the RPC thread."""
        event_id = params.get("event_id") if isinstance(params, dict) else None
        if not isinstance(event_id, int):
            raise ValueError("compile_diff needs {'event_id': int}")
        view = compile_diff(event_id)
        if isinstance(view, Message):
            return {"event_id": event_id, "ok": False, "text": view.text, "headline": view.text}
        return {
            "event_id": event_id,
            "ok": True,
            "text": view.text(),
            "headline": jaxprview.diff_headline(view.diff),
        }

    # -- in-cell monitors ------------------------------------------------------------------
    def add_monitor(self, monitor: Any) -> None:
        """A monitor shows buffers and watched params too: sample them (at least every
        ``MONITOR_INTERVAL`` s, faster if a sidebar asked) while it is open."""
        self.monitors.append(monitor)
        self.buffer_interval = self.buffer_interval or MONITOR_INTERVAL
        self.params_interval = self.params_interval or MONITOR_INTERVAL
        self.sampler.start()

    def remove_monitor(self, monitor: Any) -> None:
        if monitor in self.monitors:
            self.monitors.remove(monitor)
        if not self.monitors and not self.forwarders and self.sidebars == 0:
            self.buffer_interval = self.params_interval = 0.0
            self.sampler.stop()

    def cell_finished_monitors(self) -> None:
        """Between cells: deliver what is pending and store each monitor's final state."""
        self.hub.flush()
        for monitor in list(self.monitors):
            monitor.flush(final=True)

    # -- keys ------------------------------------------------------------------------------
    def _on_key_reuse(self, rec: Any) -> None:
        self.hub.publish(rec.to_json())

    def cell_finished_keys(self) -> None:
        """Between cells: process queued key events, so a reuse warns in the cell that made it;
        then a new run begins (a root made again in the next cell starts a fresh lineage)."""
        tracker = keyslib.tracker()
        try:
            tracker.flush()
        finally:
            tracker.new_run()

    def publish_keys(self, force: bool = False) -> None:
        """A ``keys`` snapshot when the lineage changed (at most once a second)."""
        tracker = keyslib.tracker()
        now = time.monotonic()
        if not force and (tracker.version == self._keys_version or now < self._keys_due):
            return
        if not force and not tracker.tracking and self._keys_version == -1:
            return  # never tracked: nothing to say
        self._keys_version = tracker.version
        self._keys_due = now + 1.0
        self.hub.publish(tracker.snapshot(seq=tracker.version).to_json())

    def _track_keys(self, params: Any) -> dict[str, Any]:
        """RPC from the Keys tab: ``{"on": bool}`` turns key tracking on or off."""
        on = params.get("on") if isinstance(params, dict) else None
        if not isinstance(on, bool):
            raise ValueError("track_keys needs {'on': true|false}")
        tracker = keyslib.tracker()
        if on:
            tracker.start(on_reuse=tracker.on_reuse, cell_of=self.compiles.cell_of)
        else:
            tracker.stop()
        self.publish_keys(force=True)
        return {"tracking": tracker.tracking, "on_reuse": tracker.on_reuse}

    def _configure(self, params: Any) -> dict[str, Any]:
        """RPC from the sidebar's settings (Settings → jaxinspect): ``{setting: value}`` for
        the settings of ``protocol.CONFIGURE_SETTINGS``, each applied through ``config``'s own
        check. Answers what is in force for each setting applied, and one line for each refused
        (the previous value stays). Turning ``track_keys_on_load`` on starts key tracking here
        too, as loading would have; turning it off leaves tracking as it is (the Keys tab stops it)."""
        if not isinstance(params, dict):
            raise ValueError("configure needs {setting: value, ...}")
        applied: dict[str, Any] = {}
        refused: list[dict[str, str]] = []
        was_on_load = config.track_keys_on_load
        for name, value in params.items():
            if name not in protocol.CONFIGURE_SETTINGS:
                known = ", ".join(protocol.CONFIGURE_SETTINGS)
                refused.append({"setting": str(name),
                                "message": f"jaxinspect: the sidebar cannot set {name!r} (it sets {known}); "
                                           "nothing changed"})
                continue
            problem = config.apply(name, value)
            if problem is None:
                applied[name] = getattr(config, name)
            else:
                refused.append({"setting": name, "message": problem})
        tracker = keyslib.tracker()
        if applied.get("track_keys_on_load") and not was_on_load and not tracker.tracking:
            tracker.start(on_reuse=tracker.on_reuse, cell_of=self.compiles.cell_of)
            self.publish_keys(force=True)
        return {"applied": applied, "refused": refused, "tracking": tracker.tracking}

    def _on_internal_error(self, rec) -> None:
        self.hub.publish(rec.to_json())
