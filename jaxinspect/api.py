"""The public API: a facade over the one session object (``glue.session.SESSION``).

``jaxinspect/__init__.py`` re-exports these names; the magics call the same session methods, so a
magic and its API twin cannot drift. Nothing in jaxinspect imports this module back.
"""

from __future__ import annotations

from typing import Any

from .glue import extension
from .glue.session import SESSION, assert_max_compiles, profile, track_keys

__all__ = [
    "assert_max_compiles",
    "buffers",
    "collect_processes",
    "compile_diff",
    "compile_log",
    "connect",
    "jaxpr",
    "keys",
    "monitor",
    "nan_guard",
    "params",
    "processes",
    "profile",
    "report",
    "sample_watched",
    "sharding",
    "status",
    "track_keys",
    "trace_view",
    "unwatch",
    "watch",
    "watch_history",
]


def status():
    """Versions, backend, devices and what jaxinspect is recording (works loaded or not)."""
    return SESSION.status()


def compile_log(all: bool = False):  # noqa: A002 - mirrors %jit_profile --all
    """Every compile recorded since ``%load_ext jaxinspect`` (internal ones with ``all=True``)."""
    return SESSION.compile_log(all=all)


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
    return SESSION.trace_view(fn, args, kwargs, label, sections, source, title, speaker)


def jaxpr(fn: Any = None, /, *args: Any, **kwargs: Any):
    """The jaxpr of ``fn(*args, **kwargs)`` as ``jit`` would trace it, without running it.

    ``fn`` may be any callable: a plain or ``jax.jit``-ed function (its static arguments are
    honoured), ``jax.grad(loss)``, a bound method, an NNX module. Arguments may be arrays or
    ``jax.ShapeDtypeStruct``. Returns a ``JaxprView`` (``.jaxpr``, ``.stats``, ``.to_json()``,
    ``.stablehlo()``, ``.hlo()``, ``.cost()``, ``.diff(other)``, ``.graph()``, ``.text()``), or a
    ``Message`` naming what failed.
    """
    return SESSION.jaxpr(fn, *args, **kwargs)


def compile_diff(event: Any):
    """The jaxpr diff behind a recompile: the closest previous call of that function against the
    call that recompiled, both re-traced from their recorded signatures (arrays become
    ``ShapeDtypeStruct``; static values are the remembered ones). ``event`` is a compile event
    record (``profile().events[i]``) or its id. Returns a ``JaxprDiffView`` or a ``Message``."""
    return SESSION.compile_diff(event)


def buffers(limit: int | None = 50, owners: bool = True, profile: bool = False):
    """A snapshot of every live ``jax.Array``: shape, dtype, bytes per device, sharding, which
    variable holds it (a bounded walk of your namespace) and where it was created; totals per
    device, holder, creation site and dtype; and growth alerts from comparing with earlier
    snapshots. Metadata only: nothing is copied to the host and no array is kept alive.
    ``limit`` bounds the arrays listed (None: all); ``profile=True`` adds the parsed
    ``jax.profiler.device_memory_profile()`` (buffers and compiled executables per device, the
    largest allocation sites)."""
    return SESSION.buffers(limit=limit, owners=owners, profile=profile)


def sharding(x: Any):
    """Which block of array ``x`` lives on which device (any rank; a grid for 1–2 D). A
    deleted or donated array is said to be so: its blocks no longer hold device memory."""
    return SESSION.sharding(x)


def params(tree: Any, stats: bool = False, title: str | None = None):
    """The parameter tree of a Flax linen variables dict / ``TrainState``, an NNX ``Module``,
    ``nnx.State`` or ``nnx.Optimizer``, or any pytree: per leaf path, variable kind, dtype,
    shape, values, bytes and sharding, with per-subtree totals. ``stats=True`` adds mean, std,
    min, max, L2 norm, fraction of zeros and NaN/Inf counts per leaf, computed on device in one
    batched call (only the small table is copied to the host)."""
    return SESSION.params(tree, stats=stats, title=title)


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
    return SESSION.watch(name, value, step)


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
    return SESSION.nan_guard(fn, name=name, copy_donated=copy_donated)


def unwatch(name: str | None = None) -> None:
    """Stop watching ``name`` (all trees when None) and drop the reference."""
    SESSION.unwatch(name)


def sample_watched():
    """Sample every watched tree now (what the Params tab shows), as a list of records, after
    every NaN/Inf check dispatched so far has been read; then the alerts raised so far."""
    return SESSION.sample_watched()


def watch_history(name: str | None = None):
    """Samples of the watched trees so far (all names, or ``name``): per-module norm and update
    ratio over steps, as text and HTML with inline SVG curves (``.figure()``: a plotly figure)."""
    return SESSION.watch_history(name)


def keys(clear: bool = False):
    """The PRNG key lineage recorded by ``track_keys``: reuses (eager and read from jit),
    the tree of keys (roots → splits → uses) and uses per sampler. ``clear=True`` forgets it
    afterwards."""
    return SESSION.keys(clear=clear)


def monitor(mode: str = "auto", plot: bool | None = None):
    """A live view in the cell: logged scalars (``m.log(step, loss=loss)``), watched params with
    norms / update ratios / NaN alerts, device memory and top holders, compiles with reasons, and
    PRNG key counts — updating while the cells below it run (≤ ~10 updates/s, deltas only).

    ``mode``: ``"widget"`` (anywidget drawing the curves itself unless ``plot=False``; beside
    it a text/HTML snapshot with the curves as SVG, updated when a cell ends, which is what a
    saved notebook shows where widgets do not render; ``plot=True`` adds a plotly FigureWidget,
    whose JavaScript is then stored in the notebook), ``"display"`` (HTML refreshed in place, for front ends without widgets),
    ``"text"`` (terminal IPython: ``print(m)``); ``"auto"`` picks. Loads the extension if needed.
    One monitor per kernel: a new one closes the previous (``m.close()`` stops it)."""
    if SESSION.inspector is None and mode in ("auto", "widget", "display", "text"):
        shell = SESSION.ipython()
        if shell is not None:
            extension.load(shell)  # the monitor lives in the loaded extension
    return SESSION.monitor(mode=mode, plot=plot)


def collect_processes(port: Any = 0, token: str | None = None):
    """Show the processes of a multi-process job side by side in this notebook.

    **ipyparallel** (the usual way to drive a multi-host job from a notebook):
    ``c = jaxinspect.collect_processes(rc)`` with the cluster's ``ipyparallel.Client`` (or the
    ``Cluster``), then ``%px %load_ext jaxinspect`` on the engines. Each engine publishes through
    the cluster's own messaging: no port, token or tunnel, on every host the cluster spans.

    **Anything else** (SLURM, ``subprocess``): ``c = jaxinspect.collect_processes()`` opens a
    collector on 127.0.0.1:``port`` (0: any free port); start each process with ``c.env`` in its
    environment and call ``jaxinspect.connect()`` there (after ``jax.distributed.initialize()``).
    Loopback only: see the README for other hosts (ssh -R).

    Their compiles with reasons, memory, alerts, progress and where each main thread is appear in
    the sidebar's Processes tab, in ``c`` (display it) and in the monitor. A process whose main
    thread has waited at one place for ``config.stuck_after_s`` seconds while a cell runs is
    marked stuck, with the line it waits at; ``c.stacks()`` asks every process for its stack. A
    function that processes compiled a different number of times is marked: in a
    multi-controller job that usually means they run different programs and will hang at the
    next collective."""
    return SESSION.collect_processes(port=port, token=token)


def processes():
    """The open collector (``collect_processes``): display it for the processes side by side;
    ``jaxinspect.processes().stacks()`` returns every process's main-thread stack as text (asked
    for now; it works while a process waits inside a collective)."""
    return SESSION.processes()


def connect(address: str | None = None, token: str | None = None, buffers_every: float = 1.0):
    """Publish this process's records (compiles, memory, alerts, status) to a notebook's
    collector (``jaxinspect.collect_processes()``). ``address``/``token`` default to the
    ``JAXINSPECT_COLLECTOR`` / ``JAXINSPECT_COLLECTOR_TOKEN`` environment variables. Works in
    plain scripts; never raises (problems are said once on stderr). Returns the connection
    (``.close()``; it also closes at exit, after sending what is pending)."""
    return SESSION.connect(address, token=token, buffers_every=buffers_every)


def report(path: Any = None, trace: Any = None):
    """Write the session so far as ONE self-contained HTML file to attach to a bug report or a
    PR: environment (jax version, backend, devices); every compile per function with its reasons,
    where it was called ("cell [N] line L") and what changed, and a compile timeline; memory per
    device over the buffer snapshots taken, with the top holders of a snapshot taken now; PRNG key
    reuses with their lineage; watched parameters (norm and update ratio over steps) and their
    NaN/Inf alerts (step, leaf); jaxinspect's own errors. It opens from disk in any browser with no
    network (no script, no external style, font or image), in light and dark themes.

    ``trace="run.trace.json"`` also writes the compile timeline in the Trace Event Format (Chrome
    / Perfetto JSON: open it in ui.perfetto.dev or chrome://tracing): one slice per compile named
    by the function, with its trace / lower / compile phases inside it, and the reason and cell
    location in its args. ``jaxinspect.report(trace=...)`` alone writes only the trace.

    Both are bounded however long the session ran: the newest compiles in full and a count of the
    rest, curves thinned to a fixed number of points; the page ends with what it does not hold.
    A ``path`` ending in ``.txt`` gets the plain-text twin of the page instead (the same
    sections, no charts). Existing files are replaced. Returns a one-line result (``.path``, ``.bytes``, ``.trace_path``,
    ``.trace_bytes``, ``.to_json()``), or a message naming what is wrong with a path; never raises.
    Same as ``%jaxinspect report FILE [--trace FILE]``."""
    return SESSION.report(path, trace=trace)
