"""The Python API behind the magics. ``jaxinspect/__init__.py`` re-exports the public names."""

from __future__ import annotations

from typing import Any

from . import protocol
from ._version import __version__
from .collect import envlib
from .glue import extension
from .glue.display import CompileReport, Message, StatusView
from .live.hub import Hub
from .live.kernelstate import KernelState


def status() -> StatusView:
    """Versions, backend, devices and what jaxinspect is recording (works loaded or not)."""
    inspector = extension.current()
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


class profile(CompileReport):  # noqa: N801 - used as `with jaxinspect.profile() as p:`
    """Record every compile inside a ``with`` block (works with or without ``%load_ext``).

    >>> with jaxinspect.profile() as p:          # doctest: +SKIP
    ...     train_step(state, batch)
    >>> p.functions[0].compiles                    # doctest: +SKIP
    1
    """

    title = "jit_profile"

    def __init__(self, all: bool = False) -> None:  # noqa: A002 - mirrors %jit_profile --all
        from .analyze.compilestats import CompileLog
        from .collect import compilelib
        from .config import config

        super().__init__(CompileLog(config.storm_threshold), include_internal=all)
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


def compile_log(all: bool = False) -> CompileReport | Message:  # noqa: A002
    """Every compile recorded since ``%load_ext jaxinspect`` (internal ones with ``all=True``)."""
    inspector = extension.current()
    if inspector is None:
        return Message(
            "jaxinspect is not loaded, so no compiles were recorded. Run %load_ext jaxinspect "
            "(compiles are recorded from then on), or wrap code in `with jaxinspect.profile():`.",
            level="error",
        )
    return CompileReport(inspector.compile_log, include_internal=all, title="compiles this session")


class assert_max_compiles:  # noqa: N801 - reads as a statement in tests
    """Fail if ``fn`` compiles more than ``n`` times inside the ``with`` block.

    >>> with jaxinspect.assert_max_compiles(train_step, 1):   # doctest: +SKIP
    ...     for batch in batches:
    ...         state = train_step(state, batch)
    AssertionError: `train_step` compiled 2 times (allowed 1): `batch` changed shape (32, 784) → (16, 784)
    """

    def __init__(self, fn: Any, n: int) -> None:
        from .collect import compilelib

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


def trace_view(
    fn: Any,
    args: tuple,
    kwargs: dict,
    label: str | None = None,
    sections: tuple[str, ...] = ("jaxpr",),
    source: bool = False,
    title: str | None = None,
    speaker: str = "%jaxpr",
):
    """Trace ``fn(*args, **kwargs)`` and wrap it as a ``JaxprView`` (or a ``Message`` saying
    what failed). Shared by ``jaxinspect.jaxpr`` and ``%jaxpr`` (``speaker`` names which one
    messages come from)."""
    from .collect import compilelib, jaxprlib
    from .glue.jaxprdisplay import JaxprView

    token = jaxprlib.PREFIX.set(speaker)
    try:
        traced = jaxprlib.trace_call(fn, args, kwargs, label=label)
        doc = jaxprlib.build_doc(
            traced.jaxpr,
            title=title or label or traced.label,
            source=True,
            cell_of=compilelib.collector().cell_of,
            in_labels=traced.labels,
            out_labels=getattr(traced, "out_labels", ()),
        )
    except jaxprlib.TraceFailure as exc:
        return Message(str(exc), level="error")
    except RecursionError:
        return Message(
            f"{speaker}: the program nests deeper than Python's recursion limit; "
            "sys.setrecursionlimit raises it",
            level="error",
        )
    except Exception as exc:  # noqa: BLE001 - never a traceback from jaxinspect
        return Message(
            f"{speaker}: could not read the traced program of `{label or jaxprlib.callable_name(fn)}`: "
            f"{type(exc).__name__}: {exc}",
            level="error",
        )
    finally:
        jaxprlib.PREFIX.reset(token)
    return JaxprView(traced, doc, sections, source, speaker=speaker)


def jaxpr(fn: Any = None, /, *args: Any, **kwargs: Any):
    """The jaxpr of ``fn(*args, **kwargs)`` as ``jit`` would trace it, without running it.

    ``fn`` may be any callable: a plain or ``jax.jit``-ed function (its static arguments are
    honoured), ``jax.grad(loss)``, a bound method, an NNX module. Arguments may be arrays or
    ``jax.ShapeDtypeStruct``. Returns a ``JaxprView`` (``.jaxpr``, ``.stats``, ``.to_json()``,
    ``.stablehlo()``, ``.hlo()``, ``.cost()``, ``.diff(other)``, ``.graph()``, ``.text()``), or a
    ``Message`` naming what failed.
    """
    if fn is None and not args and not kwargs:
        return Message(
            "jaxinspect.jaxpr: give the function to trace, then its arguments: "
            "jaxinspect.jaxpr(f, x, y)",
            level="error",
        )
    return trace_view(fn, args, kwargs, speaker="jaxinspect.jaxpr")


def compile_diff(event: Any):
    """The jaxpr diff behind a recompile: the closest previous call of that function against the
    call that recompiled, both re-traced from their recorded signatures (arrays become
    ``ShapeDtypeStruct``; static values are the remembered ones). ``event`` is a compile event
    record (``profile().events[i]``) or its id. Returns a ``JaxprDiffView`` or a ``Message``."""
    from .analyze import jaxprdiff
    from .collect import compilelib, jaxprlib
    from .glue.jaxprdisplay import JaxprDiffView

    event_id = getattr(event, "id", event)
    name = getattr(event, "fun_name", None)
    if not isinstance(event_id, int):
        return Message(f"compile_diff: expected a compile event or its id, got {event_id!r}", "error")
    try:
        before, after = jaxprlib.retrace_event(event_id, name)
        cell_of = compilelib.collector().cell_of
        docs = [
            jaxprlib.build_doc(t.jaxpr, title=t.label, cell_of=cell_of, in_labels=t.labels)
            for t in (before, after)
        ]
    except jaxprlib.TraceFailure as exc:
        return Message(str(exc).replace("%jaxpr: ", "compile diff: "), level="error")
    return JaxprDiffView(jaxprdiff.diff(*docs))


_buffer_tracker = None


def _user_namespace(depth: int = 2) -> dict[str, Any] | None:
    shell = extension.current_shell()
    if shell is None:
        try:
            from IPython import get_ipython

            shell = get_ipython()
        except ImportError:
            shell = None
    if shell is not None and isinstance(getattr(shell, "user_ns", None), dict):
        return shell.user_ns
    import sys

    try:
        return sys._getframe(depth).f_globals  # a script: its module globals
    except ValueError:
        return None


def buffers(limit: int | None = 50, owners: bool = True, profile: bool = False):
    """A snapshot of every live ``jax.Array``: shape, dtype, bytes per device, sharding, which
    variable holds it (a bounded walk of your namespace) and where it was created; totals per
    device, holder, creation site and dtype; and growth alerts from comparing with earlier
    snapshots. Metadata only: nothing is copied to the host and no array is kept alive.
    ``limit`` bounds the arrays listed (None: all); ``profile=True`` adds the parsed
    ``jax.profiler.device_memory_profile()`` (buffers and compiled executables per device, the
    largest allocation sites)."""
    global _buffer_tracker
    from .analyze import bufferstats
    from .collect import bufferlib, compilelib
    from .glue.bufferdisplay import BuffersView

    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        return Message(
            f"jaxinspect.buffers: limit must be a whole number ≥ 0 or None (all), not {limit!r}",
            level="error",
        )
    inspector = extension.current()
    if inspector is not None:
        tracker = inspector.buffer_tracker
    else:
        if _buffer_tracker is None:
            _buffer_tracker = bufferstats.BufferTracker()
        tracker = _buffer_tracker
    ns = _user_namespace()
    snap = bufferlib.take_snapshot(
        ns, cell_of=compilelib.collector().cell_of, attribute=owners, shard_details=8
    )
    shell = extension.current_shell()
    record, _new = tracker.add(snap, "api", cell=getattr(shell, "execution_count", None))
    if inspector is not None:
        inspector.publish_buffers(record, _new)
    shards = snap.extra.get("shards", {})
    view = BuffersView(
        record, snap.arrays, tracker.active_alerts(), shards, list(tracker.timeline), limit,
        own=(snap.own_arrays, snap.own_bytes),
    )
    if profile:
        try:
            view.profile = bufferlib.memory_profile(compilelib.collector().cell_of)
        except Exception as exc:  # noqa: BLE001 - a backend without memory profiles
            view.profile = {"error": f"{type(exc).__name__}: {exc}"}
    return view


def sharding(x: Any):
    """Which block of array ``x`` lives on which device (any rank; a grid for 1–2 D). A
    deleted or donated array is said to be so: its blocks no longer hold device memory."""
    from .collect import bufferlib
    from .glue.bufferdisplay import ShardingView

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


def params(tree: Any, stats: bool = False, title: str | None = None):
    """The parameter tree of a Flax linen variables dict / ``TrainState``, an NNX ``Module``,
    ``nnx.State`` or ``nnx.Optimizer``, or any pytree: per leaf path, variable kind, dtype,
    shape, values, bytes and sharding, with per-subtree totals. ``stats=True`` adds mean, std,
    min, max, L2 norm, fraction of zeros and NaN/Inf counts per leaf, computed on device in one
    batched call (only the small table is copied to the host)."""
    from .collect import paramlib
    from .glue.paramdisplay import ParamsView

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


_watcher = None


def _the_watcher():
    global _watcher
    inspector = extension.current()
    if inspector is not None:
        return inspector.watcher
    if _watcher is None:
        from .collect import paramlib

        _watcher = paramlib.Watcher()
    return _watcher


def watch(name: str, value: Any, step: int | None = None) -> Any:
    """Watch a parameter tree while training: call it every step with the newest value (a
    params dict, ``TrainState``, NNX Module / State / Optimizer, any pytree); returns ``value``.

    Every call is checked for NaN/Inf exactly: one small compiled count per leaf, dispatched
    without waiting and read on a background thread. The first non-finite call raises one alert
    with that step, the last finite step and the leaves that were non-finite then ("all 6 of 6
    leaves turned at once" means the NaN came through the step, not from one leaf). When a check
    would cost more than ``config.watch_budget`` (2%) of the time between calls, it runs on
    every k-th call and the alert says which steps were not checked. Inside ``jit`` the counts
    are computed in the step's own program and only they reach the host. While the Params tab
    or a monitor is open, the newest value is also sampled for norms and update ratios."""
    try:
        from .collect import paramlib

        _the_watcher().watch(str(name), value, paramlib.step_arg(step))
    except Exception as exc:  # noqa: BLE001 - never raise into the training loop
        from . import errors

        errors.record("api.watch", exc)
    return value


def nan_guard(fn: Any = None, /, *, name: str | None = None, copy_donated: bool = False):
    """From a NaN alert to its cause: wrap a training step (``step = jaxinspect.nan_guard(step)``
    or ``@jaxinspect.nan_guard`` above ``@jax.jit`` / ``@nnx.jit``).

    Every call's inputs are checked for NaN/Inf exactly, like ``watch()`` (same cost cap). When a
    call's inputs are first non-finite, the call before it is replayed from its inputs on a
    background thread with ``jax_debug_nans``/``jax_debug_infs`` on, and the alert gains the
    primitive, its equation and your line that made the first NaN — or says the NaN entered
    between the two calls, outside the step. Memory: the inputs of the previous call stay alive
    until the next call's check is read (about one more copy of the training state). A step that
    donates its inputs destroys them: ``copy_donated=True`` keeps a copy (one device copy of the
    inputs per call). ``guard.cause`` holds the answer; ``guard.wait()`` waits for it."""
    from .collect.replaylib import NanGuard

    def wrap(f: Any) -> Any:
        if not callable(f):
            return Message(
                f"jaxinspect.nan_guard: expected the step function, got {type(f).__name__}; "
                "use step = jaxinspect.nan_guard(step) or @jaxinspect.nan_guard",
                level="error",
            )
        return NanGuard(f, _the_watcher(), name=name, copy_donated=copy_donated)

    return wrap if fn is None else wrap(fn)


def unwatch(name: str | None = None) -> None:
    """Stop watching ``name`` (all trees when None) and drop the reference."""
    _the_watcher().unwatch(name)


def sample_watched():
    """Sample every watched tree now (what the Params tab shows), as a list of records, after
    every NaN/Inf check dispatched so far has been read; then the alerts raised so far."""
    watcher = _the_watcher()
    watcher.checker.drain()
    records, _ = watcher.sample(None)
    watcher.checker.drain()
    return records + list(watcher.alerts)


def watch_history(name: str | None = None):
    """Samples of the watched trees so far (all names, or ``name``): per-module norm and update
    ratio over steps, as text and a plotly figure (``.figure()``)."""
    from .glue.paramdisplay import WatchHistoryView

    return WatchHistoryView(list(_the_watcher().history), name)


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
        import sys  # noqa: PLC0415
        import warnings  # noqa: PLC0415

        from .collect import keyslib

        self._tracker = keyslib.tracker()
        self._started = False
        self.error: str | None = None
        inspector = extension.current()
        shell = extension.current_shell()
        if shell is None:
            ip_mod = sys.modules.get("IPython")
            get_ipython = getattr(ip_mod, "get_ipython", None)
            shell = get_ipython() if get_ipython is not None else None
        cell_of = inspector.compiles.cell_of if inspector is not None else None
        was_on = self._tracker.tracking
        self._jit_calls_before = self._tracker.jit_calls if was_on else None
        try:
            self._tracker.start(on_reuse=on_reuse, cell_of=cell_of, jit_calls=jit_calls)
        except (ValueError, RuntimeError) as exc:
            # one clear line, never a traceback: tracking stays as it was
            self.error = f"jaxinspect.track_keys: {exc}; key tracking is {'on' if was_on else 'off'}"
            warnings.warn(self.error, UserWarning, stacklevel=2)
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
        elif self.error is None and self._jit_calls_before is not None and self._tracker.tracking:
            self._tracker.start(on_reuse=self._tracker.on_reuse, jit_calls=self._jit_calls_before)

    def stop(self) -> None:
        """Stop tracking (what was recorded stays: ``jaxinspect.keys()``)."""
        self._tracker.stop()

    def keys(self):
        return keys()

    def __repr__(self) -> str:
        if self.error:
            return self.error
        state = "on" if self._tracker.tracking else "off"
        jit = ", jit_calls=True" if self._tracker.jit_calls else ""
        return f"<jaxinspect.track_keys: tracking {state}, on_reuse={self._tracker.on_reuse!r}{jit}>"


def keys(clear: bool = False):
    """The PRNG key lineage recorded by ``track_keys``: reuses (eager and read from jit),
    the tree of keys (roots → splits → uses) and uses per sampler. ``clear=True`` forgets it
    afterwards."""
    from .collect import keyslib
    from .glue.keydisplay import KeysView

    tracker = keyslib.tracker()
    view = KeysView(tracker.snapshot(), sorted(tracker.reuses.values(), key=lambda r: r.id))
    if clear:
        tracker.clear()
    return view


def monitor(mode: str = "auto", plot: bool | None = None):
    """A live view in the cell: logged scalars (``m.log(step, loss=loss)``), watched params with
    norms / update ratios / NaN alerts, device memory and top holders, compiles with reasons, and
    PRNG key counts — updating while the cells below it run (≤ ~10 updates/s, deltas only).

    ``mode``: ``"widget"`` (anywidget, + a plotly FigureWidget of the curves unless
    ``plot=False``), ``"display"`` (HTML refreshed in place, for front ends without widgets),
    ``"text"`` (terminal IPython: ``print(m)``); ``"auto"`` picks. Loads the extension if needed.
    One monitor per kernel: a new one closes the previous (``m.close()`` stops it)."""
    from .glue.monitor import MODES, Monitor

    if mode not in MODES:
        return Message(f"jaxinspect.monitor: mode must be one of {', '.join(MODES)}, got {mode!r}", level="error")
    inspector = extension.current()
    shell = extension.current_shell()
    if inspector is None:
        try:
            from IPython import get_ipython

            shell = get_ipython()
        except ImportError:
            shell = None
        if shell is None:
            return Message(
                "jaxinspect.monitor needs IPython or Jupyter (it shows live views in a notebook "
                "cell); in a plain script use jaxinspect.compile_log(), buffers(), keys()",
                level="error",
            )
        extension.load(shell)
        inspector = extension.current()
    return Monitor(inspector, mode=mode, plot=plot, shell=shell)


def collect_processes(port: int = 0, token: str | None = None):
    """Show the processes of a multi-process job side by side in this notebook.

    Opens (or returns) this kernel's collector on 127.0.0.1:``port`` (0: any free port). Start
    each process with ``c.env`` in its environment and call ``jaxinspect.connect()`` there (after
    ``jax.distributed.initialize()``). Their compiles with reasons, memory, alerts and status
    then appear in the sidebar's Processes tab, in ``c`` (display it) and in the monitor. A
    function that processes compiled a different number of times is marked: in a
    multi-controller job that usually means they run different programs and will hang at the
    next collective. Loopback only: see the README for multi-host jobs (ssh -R)."""
    from .glue.processes import collect_processes as _open

    return _open(port=port, token=token)


def connect(address: str | None = None, token: str | None = None, buffers_every: float = 1.0):
    """Publish this process's records (compiles, memory, alerts, status) to a notebook's
    collector (``jaxinspect.collect_processes()``). ``address``/``token`` default to the
    ``JAXINSPECT_COLLECTOR`` / ``JAXINSPECT_COLLECTOR_TOKEN`` environment variables. Works in
    plain scripts; never raises (problems are said once on stderr). Returns the connection
    (``.close()``; it also closes at exit, after sending what is pending)."""
    from .glue.processes import connect as _connect

    return _connect(address, token=token, buffers_every=buffers_every)
