"""The one session object: everything jaxinspect holds in this process, and the operations the
public API (``jaxinspect/api.py``) and the magics call.

``SESSION`` is created at import. ``%load_ext jaxinspect`` attaches an ``Inspector`` (the
collectors wired to the live hub, the sidebar's comms) and the IPython shell; without it the
session still answers (``jaxinspect.profile()``, ``buffers()``, ``watch()`` in a plain script)
with a buffer tracker and a watcher of its own, made on first use. The magics and the API call the
same methods, so a magic and its API twin cannot drift.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .. import errors, protocol, units
from .._version import __version__
from ..analyze.bufferstats import BufferTracker
from ..analyze.compilestats import CompileLog
from ..collect import bufferlib, compat, compilelib, envlib, keyslib, paramlib
from ..collect.replaylib import NanGuard
from ..config import config
from ..live.hub import Hub
from ..live.kernelstate import KernelState
from ..render import reportview
from . import monitor as monitor_mod
from . import processes
from .bufferdisplay import BuffersView, ShardingView
from .display import CompileReport, Message, StatusView
from .inspector import Inspector
from .keydisplay import KeysView
from .paramdisplay import ParamsView, WatchHistoryView
from .tracing import compile_diff, trace_view


class Session:
    """What jaxinspect holds in this process. One instance: ``SESSION``."""

    def __init__(self) -> None:
        #: the loaded ``Inspector`` (``%load_ext jaxinspect``), or None
        self.inspector: Inspector | None = None
        #: the IPython shell jaxinspect is loaded into, or None
        self.shell: Any = None
        #: the in-cell monitors open (one per kernel: a new one closes the others)
        self.monitors: list = []
        self._buffer_tracker: BufferTracker | None = None
        self._watcher: paramlib.Watcher | None = None
        self._lock = threading.Lock()

    # -- state -----------------------------------------------------------------------------
    def attach(self, inspector: Inspector, shell: Any) -> None:
        """``%load_ext``: from now on the inspector's state is the session's."""
        self.inspector, self.shell = inspector, shell

    def detach(self) -> Inspector | None:
        """``%unload_ext``: close the monitors; hand back the inspector for the caller to close."""
        for m in list(self.monitors):
            with errors.guard("session.close_monitor"):
                m.close(widgets=True)
        self.monitors.clear()
        inspector, self.inspector, self.shell = self.inspector, None, None
        return inspector

    @property
    def loaded(self) -> bool:
        return self.inspector is not None

    @property
    def watcher(self) -> paramlib.Watcher:
        """The watcher every ``watch()`` / ``nan_guard`` / ``%jaxinspect watch`` reports to."""
        if self.inspector is not None:
            return self.inspector.watcher
        with self._lock:
            if self._watcher is None:
                self._watcher = paramlib.Watcher()
            return self._watcher

    @property
    def buffer_tracker(self) -> BufferTracker:
        if self.inspector is not None:
            return self.inspector.buffer_tracker
        with self._lock:
            if self._buffer_tracker is None:
                self._buffer_tracker = BufferTracker()
            return self._buffer_tracker

    def ipython(self) -> Any:
        """The loaded shell, else the running IPython (without importing IPython), else None."""
        if self.shell is not None:
            return self.shell
        ip_mod = sys.modules.get("IPython")
        get_ipython = getattr(ip_mod, "get_ipython", None)
        return get_ipython() if get_ipython is not None else None

    def user_namespace(self, depth: int = 3) -> dict[str, Any] | None:
        """The notebook's namespace; in a script, the calling module's globals."""
        shell = self.ipython()
        if shell is not None and isinstance(getattr(shell, "user_ns", None), dict):
            return shell.user_ns
        try:
            return sys._getframe(depth).f_globals  # a script: its module globals
        except ValueError:
            return None

    # -- status and compiles ---------------------------------------------------------------
    def status(self) -> StatusView:
        inspector = self.inspector
        if inspector is not None:
            inspector.refresh_env()
            return StatusView(inspector.env, inspector.kernel.status().to_json(), inspector.info())
        env = envlib.collect_env().to_json()
        idle = KernelState(Hub()).status().to_json()
        info = {
            "version": __version__,
            "protocol": protocol.PROTOCOL_VERSION,
            "loaded": False,
            "sidebars": 0,
            "sampler_running": False,
        }
        return StatusView(env, idle, info)

    def compile_log(self, all: bool = False) -> CompileReport | Message:  # noqa: A002
        inspector = self.inspector
        if inspector is None:
            return Message(
                "jaxinspect is not loaded, so no compiles were recorded. Run %load_ext jaxinspect "
                "(compiles are recorded from then on), or wrap code in `with jaxinspect.profile():`.",
                level="error",
            )
        return CompileReport(
            inspector.compile_log, include_internal=all, title="compiles this session",
            differ=compile_diff,
        )

    trace_view = staticmethod(trace_view)
    compile_diff = staticmethod(compile_diff)

    def jaxpr(self, fn: Any = None, /, *args: Any, **kwargs: Any):
        if fn is None and not args and not kwargs:
            return Message(
                "jaxinspect.jaxpr: give the function to trace, then its arguments: "
                "jaxinspect.jaxpr(f, x, y)",
                level="error",
            )
        return trace_view(fn, args, kwargs, speaker="jaxinspect.jaxpr")

    # -- memory ----------------------------------------------------------------------------
    def buffers(self, limit: int | None = 50, owners: bool = True, profile: bool = False,
                namespace: dict[str, Any] | None = None):
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            return Message(
                f"jaxinspect.buffers: limit must be a whole number ≥ 0 or None (all), not {limit!r}",
                level="error",
            )
        inspector = self.inspector
        tracker = self.buffer_tracker
        ns = namespace if namespace is not None else self.user_namespace()
        cell_of = compilelib.collector().cell_of
        snap = bufferlib.take_snapshot(ns, cell_of=cell_of, attribute=owners, shard_details=8)
        shell = self.shell
        record, new = tracker.add(snap, "api", cell=getattr(shell, "execution_count", None))
        if inspector is not None:
            inspector.publish_buffers(record, new)
        shards = snap.extra.get("shards", {})
        view = BuffersView(
            record, snap.arrays, tracker.active_alerts(), shards, list(tracker.timeline), limit,
            own=(snap.own_arrays, snap.own_bytes),
        )
        if profile:
            try:
                view.profile = bufferlib.memory_profile(cell_of)
            except Exception as exc:  # noqa: BLE001 - a backend without memory profiles
                view.profile = {"error": f"{type(exc).__name__}: {exc}"}
        return view

    def sharding(self, x: Any):
        try:
            is_array = hasattr(x, "sharding") and hasattr(x, "shape") and hasattr(x, "dtype")
        except Exception as exc:  # noqa: BLE001 - an object whose __getattr__ raises something odd
            is_array = False
            kind = f"{type(x).__name__} (reading its attributes raised {type(exc).__name__})"
        else:
            kind = type(x).__name__
        if not is_array:
            return Message(
                f"jaxinspect.sharding: expected a jax.Array, got {kind}; pass one array, e.g. "
                "jaxinspect.sharding(params['w'])",
                level="error",
            )
        try:
            title = bufferlib.type_str(tuple(x.shape), x.dtype)
            deleted = bool(x.is_deleted()) if callable(getattr(x, "is_deleted", None)) else False
            shards = bufferlib.shards(x)
            text = bufferlib.sharding_text(x.sharding)
        except Exception as exc:  # noqa: BLE001 - not really an array
            return Message(
                f"jaxinspect.sharding: could not read the sharding of this {type(x).__name__}: "
                f"{type(exc).__name__}: {exc}",
                level="error",
            )
        return ShardingView(title, text, shards, deleted=deleted)

    # -- parameters ------------------------------------------------------------------------
    def params(self, tree: Any, stats: bool = False, title: str | None = None):
        name = title or type(tree).__name__
        try:
            leaves, arrays = paramlib.leaves(tree)
        except Exception as exc:  # noqa: BLE001 - not a pytree
            return Message(
                f"jaxinspect.params: could not read {name} as a pytree: {type(exc).__name__}: {exc}",
                level="error",
            )
        if not leaves:
            return Message(
                f"jaxinspect.params: {name} has no array leaves. Pass a params dict, a TrainState, "
                "an NNX Module / State / Optimizer, or another pytree of arrays.",
                level="error",
            )
        table = None
        if stats:
            try:
                table = paramlib.stats(arrays)
            except Exception as exc:  # noqa: BLE001
                return Message(
                    f"jaxinspect.params: statistics failed: {type(exc).__name__}: {exc}", level="error"
                )
        del arrays
        return ParamsView(name, leaves, table)

    def watch(self, name: str, value: Any, step: int | None = None) -> Any:
        try:
            s = paramlib.step_arg(step)
            self.watcher.watch(str(name), value, s)
            if self.inspector is not None and s is not None:
                self.inspector.note_step(s)
        except Exception as exc:  # noqa: BLE001 - never raise into the training loop
            errors.record("api.watch", exc)
        return value

    def watch_expression(self, expr: str, read: Any) -> None:
        """``%jaxinspect watch EXPR``: sample what ``read()`` returns."""
        self.watcher.watch_expression(expr, read)

    def nan_guard(self, fn: Any = None, /, *, name: str | None = None, copy_donated: bool = False):
        def wrap(f: Any) -> Any:
            if not callable(f):
                return Message(
                    f"jaxinspect.nan_guard: expected the step function, got {type(f).__name__}; "
                    "use step = jaxinspect.nan_guard(step) or @jaxinspect.nan_guard",
                    level="error",
                )
            return NanGuard(f, self.watcher, name=name, copy_donated=copy_donated)

        return wrap if fn is None else wrap(fn)

    def unwatch(self, name: str | None = None) -> None:
        self.watcher.unwatch(name)

    def sample_watched(self) -> list:
        watcher = self.watcher
        watcher.checker.drain()
        records, _ = watcher.sample(None)
        watcher.checker.drain()
        return records + list(watcher.alerts)

    def check_watched(self) -> None:
        """Check the newest unchecked ``watch()`` call now, as at the end of a cell."""
        self.watcher.check_latest()

    def watch_history(self, name: str | None = None) -> WatchHistoryView:
        return WatchHistoryView(list(self.watcher.history), name)

    # -- keys ------------------------------------------------------------------------------
    def keys(self, clear: bool = False) -> KeysView:
        tracker = keyslib.tracker()
        view = KeysView(tracker.snapshot(), sorted(tracker.reuses.values(), key=lambda r: r.id))
        if clear:
            tracker.clear()
        return view

    # -- live views and processes ----------------------------------------------------------
    def monitor(self, mode: str = "auto", plot: bool | None = None):
        """An in-cell monitor; needs the extension loaded (``jaxinspect.monitor()`` loads it)."""
        if mode not in monitor_mod.MODES:
            return Message(
                f"jaxinspect.monitor: mode must be one of {', '.join(monitor_mod.MODES)}, got {mode!r}",
                level="error",
            )
        if self.inspector is None:
            return Message(
                "jaxinspect.monitor needs IPython or Jupyter (it shows live views in a notebook "
                "cell); in a plain script use jaxinspect.compile_log(), buffers(), keys()",
                level="error",
            )
        return monitor_mod.Monitor(
            self.inspector, mode=mode, plot=plot, shell=self.shell, open_monitors=self.monitors
        )

    def close_monitors(self) -> int:
        """Close every open monitor; returns how many were open."""
        n = len(self.monitors)
        for m in list(self.monitors):
            m.close()
        return n

    def collect_processes(self, port: Any = 0, token: str | None = None):
        return processes.collect_processes(port=port, token=token, hub=self._hub)

    def processes(self):
        c = processes.current_collector()
        if c is None:
            return processes.NoCollector("jaxinspect.processes(): no collector is open. For an ipyparallel "
                           "cluster: jaxinspect.collect_processes(rc) in the notebook and "
                           "%px %load_ext jaxinspect on the engines; for processes started "
                           "elsewhere: c = jaxinspect.collect_processes(), then "
                           "jaxinspect.connect() in each", level="error")
        return c

    def _hub(self) -> Hub | None:
        inspector = self.inspector
        return inspector.hub if inspector is not None else None

    def connect(self, address: str | None = None, token: str | None = None,
                buffers_every: float = 1.0):
        return processes.connect(address, token=token, buffers_every=buffers_every,
                                 inspector=self.inspector)


    # -- a report to share -----------------------------------------------------------------
    def report(self, path: Any = None, trace: Any = None, speaker: str = "jaxinspect.report",
               namespace: dict[str, Any] | None = None):
        """Write the session so far as one self-contained HTML page (``path``) and/or the compile
        timeline as a Trace Event Format JSON (``trace``). Returns a ``ReportWritten`` (one line:
        paths and sizes) or a ``Message`` naming what is wrong with a path; never raises."""
        if path is None and trace is None:
            return Message(f"{speaker}: which file? e.g. {speaker}(\"run.html\") (add "
                           "trace=\"run.trace.json\" for the compile timeline)", level="error")
        targets: list[tuple[str, Path]] = []
        for what, given in (("report", path), ("trace", trace)):
            if given is None:
                continue
            checked = _target(given, what, speaker)
            if isinstance(checked, Message):
                return checked
            targets.append((what, checked))
        if len(targets) == 2 and targets[0][1] == targets[1][1]:
            return Message(f"{speaker}: the report and the trace would both be {targets[0][1]}; give the "
                           "trace its own name, e.g. run.trace.json", level="error")
        ns = namespace if namespace is not None else self.user_namespace()
        try:
            return self._write_report(targets, ns, speaker)
        except Exception as exc:  # noqa: BLE001 - never raise into the user's code
            errors.record("session.report", exc)
            return Message(f"{speaker}: jaxinspect failed writing the report ({type(exc).__name__}: "
                           f"{str(exc)[:200]}); this is a bug in jaxinspect, not in your code — it is "
                           "recorded (%jaxinspect status counts it)", level="error")

    def _write_report(self, targets: list[tuple[str, Path]], ns: Any, speaker: str):
        start = time.perf_counter()
        data = self.report_data(ns)
        written: dict[str, tuple[Path, int]] = {}
        for what, target in targets:
            if what == "report" and target.suffix.lower() == ".txt":
                text = reportview.report_text(data)  # the plain-text twin: for a terminal or an issue
            elif what == "report":
                text = reportview.report_html(data)
            else:
                doc = reportview.trace_events(
                    data.events, compiles_total=data.compiles_total, pid=os.getpid(),
                    process_name=_process_name(data.env),
                )
                text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
            try:
                written[what] = (target, _write(target, text))
            except OSError as exc:
                why = exc.strerror or type(exc).__name__
                return Message(f"{speaker}: could not write {target} ({why}); choose a file in a folder "
                               "you can write to", level="error")
        return ReportWritten(written, data, time.perf_counter() - start)

    def report_data(self, namespace: dict[str, Any] | None = None) -> reportview.ReportData:
        """Everything the session holds, as records, for ``reportview``. Takes one buffer snapshot
        now (when a JAX backend is running; never starts one), so the top holders are current."""
        inspector = self.inspector
        if inspector is not None:
            inspector.refresh_env()
            env, status, info = inspector.env, inspector.kernel.status().to_json(), inspector.info()
            log: CompileLog | None = inspector.compile_log
        else:
            view = self.status()
            env, status, info, log = view.env, view.status, view.info, None
        arrays: list = []
        notes: list[str] = []
        keys = keyslib.tracker()
        watcher = self.watcher
        with errors.guard("session.report_flush"):
            watcher.check_latest()  # as at a cell's end: a NaN in the last step is in the report
            if keys.on_reuse != "error":  # a reuse asked to raise is left for the cell's end to raise
                keys.flush(wait=False)
        if compat.backends_initialized():
            snap = self.buffers(limit=reportview.BUFFER_ARRAYS, namespace=namespace)
            if isinstance(snap, BuffersView):
                arrays = snap.arrays[: reportview.BUFFER_ARRAYS]
        tracker = self.buffer_tracker
        if log is None:
            notes.append("jaxinspect was not loaded (%load_ext jaxinspect), so no compile was recorded")
        collector = processes.current_collector()
        procs = None
        if collector is not None:
            procs = {**collector.snapshot(), "address": collector.address}
            if procs.get("processes"):
                notes.append("processes: as the collector saw them when the report was written; each "
                             "stack is the newest that process sent (taken when it looked stuck or was asked)")
        return reportview.ReportData(
            created=time.time(),
            env=env,
            status=status,
            info=info,
            loaded=log is not None,
            events=log.event_list(False) if log else [],
            functions=log.functions(False) if log else [],
            compile_alerts=list(log.alerts) if log else [],
            hidden_internal=log.hidden_internal() if log else 0,
            memory=_memory_points(tracker),
            memory_capacity=tracker.timeline.maxlen or len(tracker.timeline),
            memory_total=tracker.overview.count,
            processes=procs,
            buffers=tracker.last,
            arrays=arrays,
            buffer_alerts=tracker.active_alerts(),
            keys=keys.snapshot(),
            reuses=sorted(keys.reuses.values(), key=lambda r: r.id),
            watch=list(watcher.history),
            watch_capacity=watcher.history.maxlen or len(watcher.history),
            watched=list(watcher.names),
            param_alerts=list(watcher.alerts),
            errors=sorted(errors.recent(), key=lambda r: -r.count),
            notes=notes,
        )


SESSION = Session()


def _target(given: Any, what: str, speaker: str) -> Path | Message:
    """``given`` as a path to write, or a Message naming what is wrong with it and the fix."""
    if not isinstance(given, (str, os.PathLike)) or not str(given).strip():
        return Message(f"{speaker}: the {what} file must be a path such as "
                       f"{'run.html' if what == 'report' else 'run.trace.json'}, not {given!r}", level="error")
    path = Path(os.path.expanduser(str(given).strip()))
    example = "report.html" if what == "report" else "trace.json"
    if path.is_dir():
        return Message(f"{speaker}: {path} is a folder; give a file name in it, e.g. {path / example}",
                       level="error")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        return Message(f"{speaker}: the folder {parent} does not exist; create it first or write the "
                       f"{what} somewhere else", level="error")
    if not parent.is_dir():
        return Message(f"{speaker}: {parent} is a file, not a folder, so {path.name} cannot go in it; "
                       "choose another path", level="error")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return Message(f"{speaker}: cannot write {path} (permission denied); choose a folder you can "
                       "write to", level="error")
    return path.resolve()


def _write(path: Path, text: str) -> int:
    """Write ``text`` to ``path`` whole or not at all (a temporary file renamed over it)."""
    data = text.encode("utf-8")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return len(data)


def _memory_points(tracker: BufferTracker) -> list:
    """Memory over the whole session: the newest snapshots as taken, before them the tracker's
    overview (one point per stretch, its peak)."""
    recent = list(tracker.timeline)
    start = recent[0][0] if recent else float("inf")
    return [p for p in tracker.overview.snapshot() if p[0] < start] + recent


def _process_name(env: dict[str, Any]) -> str:
    backend = env.get("backend") or "no backend"
    return (f"jax process {env.get('process_index', 0)} of {env.get('process_count', 1)} "
            f"({backend}, pid {os.getpid()})")


class ReportWritten(Message):
    """What ``jaxinspect.report`` wrote: ``.path`` / ``.bytes`` (the HTML page), ``.trace_path`` /
    ``.trace_bytes`` (the trace), ``.seconds``; shown as one line."""

    def __init__(self, written: dict[str, tuple[Path, int]], data: Any, seconds: float) -> None:
        self.path, self.bytes = written.get("report", (None, None))
        self.trace_path, self.trace_bytes = written.get("trace", (None, None))
        self.seconds = seconds
        counts = (
            f"{units.plural(data.compiles_total, 'compile', thousands=True)} of "
            f"{units.plural(len(data.functions), 'function')}, "
            f"{units.plural(data.memory_total if data.memory_total is not None else len(data.memory), 'memory snapshot', thousands=True)}, "
            f"{units.plural(len({r.id for r in data.reuses}), 'key reuse')}, "
            f"{units.plural(len({a.id for a in data.param_alerts}), 'NaN/Inf alert')}"
        )
        parts = []
        if self.path is not None:
            parts.append(f"wrote {self.path} ({units.human_bytes(self.bytes)}: {counts}); open it in a browser")
        if self.trace_path is not None:
            shown = min(len(data.events), reportview.TRACE_EVENTS)
            parts.append(f"{'and' if parts else 'wrote'} {self.trace_path} ({units.human_bytes(self.trace_bytes)}, "
                         f"{units.plural(shown, 'compile', thousands=True)}): open it in ui.perfetto.dev")
        super().__init__("; ".join(parts))

    def to_json(self) -> dict[str, Any]:
        return {
            "message": self.text,
            "level": self.level,
            "path": None if self.path is None else str(self.path),
            "bytes": self.bytes,
            "trace_path": None if self.trace_path is None else str(self.trace_path),
            "trace_bytes": self.trace_bytes,
            "seconds": self.seconds,
        }


class profile(CompileReport):  # noqa: N801 - used as `with jaxinspect.profile() as p:`
    """Record every compile inside a ``with`` block (works with or without ``%load_ext``).

    >>> with jaxinspect.profile() as p:          # doctest: +SKIP
    ...     train_step(state, batch)
    >>> p.functions[0].compiles                    # doctest: +SKIP
    1
    """

    title = "jit_profile"

    def __init__(self, all: bool = False) -> None:  # noqa: A002 - mirrors %jit_profile --all
        super().__init__(
            CompileLog(config.storm_threshold), include_internal=all, differ=compile_diff
        )
        self._collector = compilelib.collector()
        self._active = False

    def _sink(self, event) -> None:
        self._log.add(event)

    def __enter__(self) -> profile:
        self._collector.attach(self._sink)
        self._active = True
        return self

    def __exit__(self, *exc) -> None:
        if self._active:
            self._collector.flush()
            self._collector.detach(self._sink)
            self._active = False


class assert_max_compiles:  # noqa: N801 - reads as a statement in tests
    """Fail if ``fn`` compiles more than ``n`` times inside the ``with`` block.

    >>> with jaxinspect.assert_max_compiles(train_step, 1):   # doctest: +SKIP
    ...     for batch in batches:
    ...         state = train_step(state, batch)
    AssertionError: `train_step` compiled 2 times (allowed 1): `batch` changed shape (32, 784) → (16, 784)
    """

    def __init__(self, fn: Any, n: int) -> None:
        self.fn = fn
        self.n = n
        self.events: list = []
        #: what is wrong with the arguments: the block then fails with this, as one line
        self.problem: str | None = None
        self._key = None
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            self.problem = (
                f"assert_max_compiles: n must be a whole number ≥ 0 (the compiles allowed), got {n!r}"
            )
        elif not callable(fn):
            self.problem = (
                f"assert_max_compiles: expected the jitted function whose compiles to count, "
                f"got a {type(fn).__name__}"
            )
        else:
            try:
                self._key = compilelib.function_identity(compilelib.base_function(fn))[0]
            except Exception as exc:  # noqa: BLE001 - an object jaxinspect cannot identify
                self.problem = (
                    f"assert_max_compiles: cannot identify {type(fn).__name__} as a function "
                    f"({type(exc).__name__}: {exc})"
                )
        self._profile = profile()

    def __enter__(self) -> assert_max_compiles:
        if self.problem is None:
            self._profile.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.problem is not None:
            if exc_type is None:
                raise AssertionError(self.problem)
            return
        self._profile.__exit__(exc_type, exc, tb)
        self.events = [
            e for e in self._profile.events if e.fun_key == self._key and e.api == "call"
        ]
        if exc_type is None and len(self.events) > self.n:
            extra = self.events[self.n]
            why = "; ".join(r.message for r in extra.reasons) or "no reason recorded"
            raise AssertionError(
                f"`{extra.fun_name}` compiled {len(self.events)} times (allowed {self.n}): {why}"
                + (
                    f" [at cell [{extra.cell}] line {extra.call_site.rsplit(':', 1)[-1]}]"
                    if extra.cell is not None and extra.call_site
                    else f" [at {extra.call_site}]"
                    if extra.call_site
                    else ""
                )
            )


class track_keys:  # noqa: N801 - used as `with jaxinspect.track_keys():`
    """Record every PRNG key created, split, folded and consumed (typed and raw keys, NNX
    ``Rngs`` streams, the keys ``jax.nn.initializers`` and so every Flax initialiser draw from),
    and report a key used twice with both call sites and its lineage.

    ``jaxinspect.track_keys()`` turns tracking on until ``.stop()`` (or ``%jaxinspect keys
    off``); ``with jaxinspect.track_keys(): ...`` tracks inside the block only. Every function
    jit traces meanwhile is also checked statically (keys inside jit are tracers). ``on_reuse``:
    ``"warn"`` (a ``KeyReuseWarning``; the default), ``"error"`` (raise ``KeyReuseError`` before
    the reuse runs) or ``"ignore"`` (only record). Off, nothing is wrapped and nothing is paid.

    A key is its bits: a root made again from the same seed in the same run (one notebook cell
    execution; outside IPython the whole session) is the same key, so drawing from it again is
    a reuse; re-running a cell starts fresh lineages and reports nothing.

    ``jit_calls=True`` also checks every *call* of a compiled function: a call whose program
    consumes a key input records a use of that key, so ``train_step(state, batch, key)`` with
    the same ``key`` on every call is caught. It costs: those calls take JAX's Python dispatch
    path (as with ``jax_debug_key_reuse``); ``benchmarks/bench_keys.py`` measures it. Off (the
    default), a compiled function called again runs no Python and is not checked.
    """

    def __init__(self, on_reuse: str = "warn", jit_calls: bool | None = None) -> None:
        self._tracker = keyslib.tracker()
        self._started = False
        self.error: str | None = None
        inspector = SESSION.inspector
        shell = SESSION.ipython()
        cell_of = inspector.compiles.cell_of if inspector is not None else None
        was_on = self._tracker.tracking
        self._jit_calls_before = self._tracker.jit_calls if was_on else None
        # a `with` block's mode is scoped to it: tracking started later from the Keys tab, the
        # settings or `%load_ext` takes the tracker's mode, which must not stay 'ignore'
        self._on_reuse_before = self._tracker.on_reuse
        try:
            self._tracker.start(on_reuse=on_reuse, cell_of=cell_of, jit_calls=jit_calls)
        except (ValueError, RuntimeError) as exc:
            # one clear line, never a traceback: tracking stays as it was
            self.error = f"jaxinspect.track_keys: {exc}; key tracking is {'on' if was_on else 'off'}"
            compilelib.warn_at_user(self.error, UserWarning, cell_of)  # "cell [5]:3: UserWarning"
            return
        self._started = not was_on
        if shell is not None and self._tracker.run_of is None:
            # one run per cell execution: a re-run cell starts fresh lineages
            self._tracker.run_of = lambda: getattr(shell, "execution_count", None)

    def __enter__(self) -> track_keys:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._started:
            self.stop()
            self._tracker.on_reuse = self._on_reuse_before
        elif self.error is None and self._jit_calls_before is not None and self._tracker.tracking:
            self._tracker.start(on_reuse=self._on_reuse_before, jit_calls=self._jit_calls_before)

    def stop(self) -> None:
        """Stop tracking (what was recorded stays: ``jaxinspect.keys()``)."""
        self._tracker.stop()

    def keys(self):
        return SESSION.keys()

    def __repr__(self) -> str:
        if self.error:
            return self.error
        state = "on" if self._tracker.tracking else "off"
        jit = ", jit_calls=True" if self._tracker.jit_calls else ""
        return f"<jaxinspect.track_keys: tracking {state}, on_reuse={self._tracker.on_reuse!r}{jit}>"
