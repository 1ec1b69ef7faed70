"""``jaxinspect.monitor()``: the sidebar's live views inside a cell.

One ``Monitor`` per kernel (a new one closes the previous). It subscribes to the inspector's hub
(compiles, buffers, watched params, keys, status), takes scalars from ``monitor.log(step, loss=...)``,
and a background thread folds both into a ``MonitorState`` every 0.1 s, sending the *delta* to the
front end — so at most ~10 messages per second whatever the loop's rate, and never whole
histories. When a cell finishes the full state is stored in the widget's ``snapshot`` trait, so the
final state survives a page reload.

Front ends: an anywidget (JupyterLab, Notebook 7, VS Code) that draws its own curves (SVG, ≤ 300
points per curve, ≤ 1 redraw/s), shown *beside a snapshot*: a second output (text/html with the
curves as inline SVG, and text/plain) of the state at the end of the last cell, updated in place
(``display_id``) when a cell finishes. Where the widget renders it hides that snapshot (a CSS rule
keyed to this monitor); wherever widgets do not render — GitHub, nbviewer, an exported HTML opened
offline, a front end without the widget state (JupyterLab shows "model not found" and VS Code keeps
the widget's mimetype rather than falling back within one output, so the snapshot has to be an
output of its own) — the snapshot shows the final curves and alerts. Nothing here puts plotly's
JavaScript into a notebook: a plotly ``FigureWidget`` of the curves is opt-in (``plot=True``).
Without anywidget, the snapshot alone is refreshed in place (≤ 2 updates/s); in terminal IPython or
plain Python, a text summary (``print(monitor)``).
"""

from __future__ import annotations

import math
import numbers
import operator
import threading
import uuid
from collections import deque
from pathlib import Path
from typing import Any

from .. import errors
from ..live.monitorstate import HISTORY, MonitorState
from ..render import monitorview

TICK = 0.1  # seconds between deltas: at most ~10 messages/s
FIGURE_EVERY = 10  # ticks between figure updates (≤ 1/s)
DISPLAY_EVERY = 5  # ticks between display updates without widgets (≤ 2/s)
PENDING = 100_000  # logged points waiting for the next tick
MODES = ("auto", "widget", "display", "text")



def _esm() -> str:
    return (Path(__file__).with_name("monitor_esm.js")).read_text(encoding="utf-8")


def _widget_class() -> Any:
    import anywidget  # noqa: PLC0415 - optional, user thread
    import traitlets  # noqa: PLC0415

    class MonitorWidget(anywidget.AnyWidget):
        _esm = _esm()
        snapshot = traitlets.Dict({}).tag(sync=True)
        #: the class of this monitor's snapshot output, which the widget hides where it renders
        snapshot_key = traitlets.Unicode("").tag(sync=True)
        #: draw the curves (``plot=False``: rows and sparklines only)
        curves = traitlets.Bool(True).tag(sync=True)

        def __repr__(self) -> str:  # never "<…MonitorWidget object at 0x…>" in a saved notebook
            return "jaxinspect monitor (live widget)"

    return MonitorWidget


def pick_mode(mode: str, shell: Any) -> str:
    """widget in a kernel with anywidget, display in a kernel without it, text elsewhere."""
    if mode != "auto":
        return mode
    if shell is None or "Terminal" in type(shell).__name__ or not hasattr(shell, "kernel"):
        return "text"
    try:
        import anywidget  # noqa: F401, PLC0415
    except ImportError:
        return "display"
    return "widget"


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str | int | float | type(None)) else f"<{type(value).__name__}>"
    return text if len(text) <= 40 else text[:39] + "…"


def _tracer(value: Any) -> bool:
    import sys  # noqa: PLC0415

    jax = sys.modules.get("jax")
    core = getattr(jax, "core", None)
    tracer = getattr(core, "Tracer", None)
    return tracer is not None and isinstance(value, tracer)


def _step_of(step: Any) -> int | None:
    """A step that is a whole number of another type (numpy / jax integer, 3.0), or None."""
    if isinstance(step, bool) or _tracer(step):
        return None
    if isinstance(step, float):
        return int(step) if step.is_integer() else None
    try:
        return operator.index(step)
    except TypeError:
        return None


def _plottable(value: Any) -> bool:
    """A real number, or an array of one real element (not a tracer): cheap checks only."""
    if isinstance(value, bool | int | numbers.Real):
        return True
    shape = getattr(value, "shape", None)
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if shape is None or kind not in ("f", "i", "u", "b") or _tracer(value):
        return False
    return math.prod(shape) == 1


def _why_not(value: Any) -> str:
    if _tracer(value):
        return " (a tracer: log the value the jitted step returns, outside jit)"
    shape = getattr(value, "shape", None)
    if shape is not None and math.prod(shape) != 1:
        return f" (this one has shape {tuple(shape)}: log a reduction such as x.mean())"
    return ""


WIDGET_TEXT = "jaxinspect monitor: a live widget (its state at the end of the last cell is the next output)"
SNAPSHOT_CLASS = "jaxinspect-monitor-snapshot"
SNAPSHOT_HANDLES = 4  # displays of one monitor kept up to date


class Monitor:
    """The live in-cell view. ``.log(step, **scalars)`` from the training loop (never raises,
    never waits on the device), ``.snapshot()`` the state, ``.messages`` how many updates were
    sent, ``.close()`` stops it. ``plot``: None (default) — the widget draws the curves itself;
    False — rows and sparklines only; True — also a plotly ``FigureWidget`` (``.figure``) of the
    curves, displayed after the widget (this stores plotly's JavaScript in the notebook)."""

    def __init__(
        self,
        inspector: Any,
        mode: str = "auto",
        plot: bool | None = None,
        shell: Any = None,
        open_monitors: list | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        #: the session's open monitors: one per kernel, so a new one closes the others
        self._open = open_monitors if open_monitors is not None else []
        for old in list(self._open):
            old.close()
        self.inspector = inspector
        self.mode = pick_mode(mode, shell)
        self.state = MonitorState()
        self.messages = 0
        self.closed = False
        self._inbox: deque = deque(maxlen=20_000)
        self._points: deque = deque(maxlen=PENDING)
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._ticks = 0
        self._figure_dirty = False
        self.widget: Any = None
        self.figure: Any = None
        self._handles: list[Any] = []  # the snapshot displays (updated in place)
        self._shown = -1  # the state.updates they show
        self.key = "ji-mon-" + uuid.uuid4().hex[:12]
        # what happened before the monitor opened
        seed: dict[str, Any] = {}
        hub = inspector.hub
        for kind in ("compile_stats", "compile_alert", "buffers", "params_watch", "keys", "status"):
            self.state.apply(hub.recent(kind, 50 if kind != "buffers" else HISTORY), seed)
        if self.mode == "widget":
            try:
                self.widget = _widget_class()(
                    snapshot=self.state.snapshot(), snapshot_key=self.key, curves=plot is not False
                )
            except ImportError:  # no anywidget in this kernel: the HTML display refreshed in place
                self.mode = "display"
        if self.mode == "widget" and plot:  # opt-in: plotly's JavaScript goes into the notebook
            try:
                self.figure = self._make_figure()
            except ImportError:
                self.figure = None
        self._token = hub.subscribe(self._on_batch)
        inspector.add_monitor(self)
        self._open.append(self)
        self._stop = threading.Event()
        self._thread = None
        if self.mode in ("widget", "display"):
            self._thread = threading.Thread(target=self._run, name="jaxinspect-monitor", daemon=True)
            self._thread.start()

    # -- the training loop's side --------------------------------------------------------------
    def log(self, step: int | None = None, **scalars: Any) -> None:
        """Record scalars (Python numbers or device scalars: read on the monitor's thread, so
        the loop never waits). Never raises: a step or a value it cannot plot is said once, as
        one line on stderr naming it (a bad step: the point is logged at the next step)."""
        try:
            s = step if step is None or type(step) is int else _step_of(step)
            if s is None and step is not None:
                self._refuse(
                    "step",
                    f"monitor.log(step={_short(step)}): the step must be a whole number or None "
                    "(e.g. m.log(i, loss=loss)); logged at the next step instead",
                )
            if s is not None:
                self.inspector.note_step(s)
            points = self._points
            for name, value in scalars.items():
                if type(value) is not float and not _plottable(value):
                    self._refuse(
                        name,
                        f"monitor.log({name}={_short(value)}): {name} must be a real number or a "
                        f"device scalar{_why_not(value)}; this value is not plotted",
                    )
                    continue
                points.append((s, name, value))
        except Exception as exc:  # noqa: BLE001 - never raise into the training loop
            errors.record("monitor.log", exc)

    def _refuse(self, key: str, text: str) -> None:
        said = self.__dict__.setdefault("_refused", set())
        if key not in said:
            said.add(key)
            import sys  # noqa: PLC0415 - only on a refusal

            print(f"jaxinspect: {text}", file=sys.stderr)

    # -- plumbing ------------------------------------------------------------------------------
    def _on_batch(self, batch: dict[str, Any]) -> None:
        self._inbox.extend(batch.get("records") or ())
        if self._thread is None:
            self.flush()  # text mode: keep the state current for print(monitor)

    def _drain(self) -> dict[str, Any]:
        delta: dict[str, Any] = {}
        records = []
        while self._inbox:
            records.append(self._inbox.popleft())
        points = []
        while self._points:
            points.append(self._points.popleft())
        names: Any = ()
        if len(points) > HISTORY:  # only the newest points of each curve fit anyway
            names = dict.fromkeys(p[1] for p in points)  # first logged first, before the trim
            per_name: dict[str, int] = {}
            kept = []
            for point in reversed(points):
                n = per_name.get(point[1], 0)
                if n < HISTORY:
                    per_name[point[1]] = n + 1
                    kept.append(point)
            points = kept[::-1]
        host = []
        for step, name, value in points:
            try:
                host.append((step, name, float(value)))  # device scalars: copied here, not in the loop
            except Exception:  # noqa: BLE001 - a non-number: skipped
                continue
        if names:
            present = {name for _, name, _ in host}
            names = [name for name in names if name in present]
        if any(not math.isfinite(v) for _, _, v in host):
            # a logged loss went NaN/Inf: check every watched tree's next call whatever the cost
            # cap, so its alert names the exact state right after
            with errors.guard("monitor.force_check"):
                self.inspector.watcher.force_check()
        with self._lock:
            self.state.apply(records, delta)
            self.state.add_scalars(host, delta, names)
            if delta:
                self.state.updates += 1
                delta["updates"] = self.state.updates
        return delta

    def flush(self, final: bool = False) -> None:
        """Send what changed now; ``final`` also stores the full state in the widget."""
        if self.closed:
            return
        with self._flush_lock:  # the thread's tick and a final flush never interleave
            self._flush(final)

    def _flush(self, final: bool) -> None:
        try:
            delta = self._drain()
            if delta:
                self._send(delta)
                self._figure_dirty = True
            if final:
                if self.widget is not None:
                    self.widget.snapshot = self.state.snapshot()
                    self.messages += 1
                self._update_figure()
                self._update_display()
        except Exception as exc:  # noqa: BLE001
            errors.record("monitor.flush", exc)

    def _send(self, delta: dict[str, Any]) -> None:
        if self.widget is not None:
            self.widget.send({"type": "delta", "delta": delta})
            self.messages += 1

    def _run(self) -> None:
        while not self._stop.wait(TICK):
            try:
                self.flush()
                self._ticks += 1
                if self._ticks % FIGURE_EVERY == 0:
                    self._update_figure()
                if self.mode == "display" and self._ticks % DISPLAY_EVERY == 0:
                    self._update_display()
            except Exception as exc:  # noqa: BLE001
                errors.record("monitor.run", exc)

    # -- figure and display --------------------------------------------------------------------
    def _make_figure(self) -> Any:
        import plotly.graph_objects as go  # noqa: PLC0415

        fig = go.FigureWidget(layout={"height": 260, "margin": {"l": 40, "r": 10, "t": 24, "b": 30},
                                      "title": {"text": "jaxinspect monitor", "font": {"size": 12}},
                                      "legend": {"orientation": "h"}})  # fmt: skip
        return fig

    def _update_figure(self) -> None:
        fig = self.figure
        if fig is None or not self._figure_dirty:
            return
        self._figure_dirty = False
        with self._lock:
            series = {k: list(v) for k, v in self.state.scalars.items()}
            for name, pts in self.state.param_points.items():
                series[f"‖{name}‖"] = [[p[0], p[1]] for p in pts]
        with fig.batch_update():
            have = {t.name: t for t in fig.data}
            for name, pts in list(series.items())[:8]:
                xs = [p[0] for p in pts]
                ys = [p[1] if isinstance(p[1], (int, float)) else None for p in pts]
                if name in have:
                    have[name].x, have[name].y = xs, ys
                else:
                    fig.add_scatter(x=xs, y=ys, name=name, mode="lines")
        self.messages += 1

    def snapshot_bundle(self, snap: dict[str, Any] | None = None) -> dict[str, str]:
        """The snapshot output: text/plain and text/html (curves as inline SVG, alerts), in a
        frame of class ``jaxinspect-monitor-snapshot <key>`` that this monitor's widget hides."""
        if snap is None:
            snap = self.snapshot()
        html = monitorview.summary_html(snap)
        return {
            "text/plain": monitorview.summary_text(snap),
            "text/html": f'<div class="{SNAPSHOT_CLASS} {self.key}">{html}</div>',
        }

    def _update_display(self) -> None:
        """Refresh the snapshot outputs in place when the state changed since they were drawn."""
        if not self._handles:
            return
        with self._lock:
            if self.state.updates == self._shown:
                return
            self._shown = self.state.updates
            snap = self.state.snapshot()
        bundle = self.snapshot_bundle(snap)
        for handle in self._handles:
            handle.update(bundle, raw=True)
            self.messages += 1

    # -- display -------------------------------------------------------------------------------
    def widget_bundle(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The widget's view (its model id) with a text/plain line instead of the widget's repr."""
        out = self.widget._repr_mimebundle_()
        data, meta = out if isinstance(out, tuple) else (out, {})
        data = dict(data or {})
        data["text/plain"] = WIDGET_TEXT
        return data, dict(meta or {})

    def _ipython_display_(self) -> None:
        from IPython.display import display  # noqa: PLC0415

        if self.mode not in ("widget", "display"):
            print(self.text())
            return
        if self.widget is not None:
            data, meta = self.widget_bundle()
            display(data, raw=True, metadata=meta)
            if self.figure is not None:
                display(self.figure)
        with self._lock:
            self._shown = self.state.updates
            snap = self.state.snapshot()
        handle = display(self.snapshot_bundle(snap), raw=True, display_id=True)
        if handle is not None:
            self._handles = [*self._handles, handle][-SNAPSHOT_HANDLES:]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return self.state.snapshot()

    def text(self) -> str:
        if self._thread is None:
            self.flush()
        return monitorview.summary_text(self.snapshot())

    def __repr__(self) -> str:
        return self.text()

    def close(self, widgets: bool = False) -> None:
        """Stop updating (the last state stays displayed). ``widgets=True`` (``%unload_ext``)
        also closes the widgets' comms, so nothing jaxinspect opened stays behind."""
        if self.closed:
            if widgets:
                self._close_widgets()
            return
        self.flush(final=True)
        self.closed = True
        if widgets:
            self._close_widgets()
        if self._thread is not None:
            self._stop.set()
            if self._thread is not threading.current_thread():
                self._thread.join(timeout=1.0)
        with errors.guard("monitor.close"):
            self.inspector.hub.unsubscribe(self._token)
            self.inspector.remove_monitor(self)
        if self in self._open:
            self._open.remove(self)

    def _close_widgets(self) -> None:
        for w in (self.widget, self.figure):
            if w is not None:
                with errors.guard("monitor.close_widget"):
                    layout = getattr(w, "layout", None)  # a DOMWidget's Layout has a comm of its own
                    w.close()
                    if hasattr(layout, "close"):
                        layout.close()
