"""Compile events: every trace / lowering / backend compile, joined per jitted call, with reasons.

Two sources, both silent on cache hits:
- ``jax.monitoring`` duration listeners give the phases (trace, MLIR lowering, backend compile)
  and persistent-cache events; they run inline in the compile path, so they only add numbers to a
  thread-local frame.
- jit's Python cache-miss path (``compat.install_pjit_hooks``) tells which function and which
  arguments; a call's signature is computed only when that call really traced or compiled.
- XLA's compile entry (``compiler.compile_or_get_cached``, wrapped by ``install_memory_hook``)
  hands back the executable it built or loaded from the persistent cache: its
  ``get_compiled_memory_stats()`` and ``cost_analysis()`` (what ``Compiled.memory_analysis()`` /
  ``cost_analysis()`` return) become the event's ``memory``, with the device's memory limit.

A frame opens when jit starts inferring a call's parameters and closes after the call ran (or,
for ``jit(f).trace/lower``, when the next call starts or on ``flush``). Frames that collected any
phase become one ``CompileEvent``. Nested jits traced inside an outer trace become their own
events with ``parent`` set.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from typing import Any

from .. import errors, units
from ..records import CompiledMemory, CompileEvent, Location, Reason
from . import compat, signaturelib

TRACE_EVENT = "/jax/core/compile/jaxpr_trace_duration"
LOWER_EVENT = "/jax/core/compile/jaxpr_to_mlir_module_duration"
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
PHASES = {TRACE_EVENT: "trace", LOWER_EVENT: "lower", COMPILE_EVENT: "compile"}
CACHE_HIT = "/jax/compilation_cache/cache_hits"
CACHE_MISS = "/jax/compilation_cache/cache_misses"

HISTORY_PER_FUNCTION = 32
CLOSEST_SEARCH = 12
PAIRS_KEPT = 512  # recompile events whose jaxpr diff can still be asked for  # how many recent signatures a new one is diffed against
_JAX_DIR = None
_OWN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SKIP_FRAMES = ("/contextlib.py", "/functools.py", "/threading.py")


def _jax_dir() -> str:
    global _JAX_DIR
    if _JAX_DIR is None:
        jax = compat.loaded_module("jax")
        _JAX_DIR = os.path.dirname(os.path.abspath(jax.__file__)) if jax else "\0"
    return _JAX_DIR


def _code(fun: Any):
    seen = 0
    while seen < 10:
        seen += 1
        code = getattr(fun, "__code__", None)
        if code is not None:
            return code
        inner = getattr(fun, "__wrapped__", None) or getattr(fun, "func", None)
        if inner is None:
            call = type(fun).__dict__.get("__call__")  # a callable class instance
            return getattr(call, "__code__", None)
        fun = inner
    return None


def _is_internal(fun: Any) -> bool:
    code = _code(fun)
    if code is None:
        return False
    return os.path.abspath(code.co_filename).startswith((_jax_dir(), _OWN_DIR))


def base_function(fun: Any) -> Any:
    """Follow ``__wrapped__`` (functools.wraps, jax.jit) to the user's own function object."""
    for _ in range(10):
        inner = getattr(fun, "__wrapped__", None)
        if inner is None:
            return fun
        fun = inner
    return fun


def function_identity(fun: Any) -> tuple[str, str, str | None, bool]:
    """(key, display name, "file:line" where defined, internal?) for a jitted function."""
    qualname = getattr(fun, "__qualname__", None) or getattr(fun, "__name__", None)
    if qualname is None:
        inner = getattr(fun, "func", None)  # functools.partial
        qualname = getattr(inner, "__qualname__", None) or type(fun).__name__
    name = getattr(fun, "__name__", None) or qualname.rsplit(".", 1)[-1]
    module = getattr(fun, "__module__", None) or ""
    code = _code(fun)
    if code is not None:
        where = f"{code.co_filename}:{code.co_firstlineno}"
        filename = os.path.abspath(code.co_filename)
        internal = filename.startswith(_jax_dir()) or filename.startswith(_OWN_DIR)
    else:
        where = None
        internal = module.startswith(("jax.", "jaxlib", "jaxinspect"))
    if code is not None and is_cell_file(code.co_filename):
        # a notebook cell's file name changes every time the cell runs: key re-runs together;
        # lambdas on the same line of different cells are told apart by their code
        key = f"{module}.{qualname}@cell:{code.co_firstlineno}"
        if name == "<lambda>":
            key += f"#{hash((code.co_code, code.co_consts)) & 0xFFFFFFFF:08x}"
    else:
        key = f"{module}.{qualname}@{where}" if where else f"{module}.{qualname}"
    return key, str(name), where, internal


def is_cell_file(filename: str) -> bool:
    """True for the pseudo-files IPython / ipykernel compile notebook cells into."""
    if filename.startswith("<ipython-input-"):
        return True
    # ipykernel: /tmp/ipykernel_<pid>/<hash>.py (not site-packages/ipykernel_launcher.py)
    head, sep, _tail = filename.replace("\\", "/").rpartition("/ipykernel_")
    return bool(sep) and _tail.split("/", 1)[0].isdigit() and "/" in _tail


def is_user_file(filename: str) -> bool:
    """True for the user's code: a notebook cell or a file outside JAX, jaxlib, jaxinspect,
    site-packages and the standard library."""
    if filename.startswith("<"):
        return not filename.startswith("<frozen")
    absname = os.path.abspath(filename)
    return not (
        absname.startswith((_jax_dir(), _OWN_DIR, sys.base_prefix))
        or "site-packages" in absname
        or "/jaxlib/" in absname
        or absname.endswith(_SKIP_FRAMES)
    )


short_path = units.short_path


# site text ("cell [3] line 5 (loss)") -> its Location, for records that carry the text and
# are made far from the frame (key reuses, buffer groups); bounded, newest kept
_PLACES: OrderedDict[str, Location] = OrderedDict()
_PLACES_MAX = 4096
_LOCATIONS: dict[tuple[str, int | None, int | None], Location] = {}


def locate(
    filename: str | None,
    line: int | None,
    cell_of: Callable[[str], int | None] | None,
    cell: int | None = None,
) -> Location | None:
    """THE one place a file name and line become a :class:`Location`: ``cell [N] line L`` for
    a notebook cell's pseudo-file (never its temp file name), the file's path otherwise, with
    the line's code read from linecache (where IPython keeps every cell's source). ``cell``:
    the cell when the caller already knows it (a magic's body runs under another file name).
    Never raises; None for no file name."""
    if not filename:
        return None
    try:
        if cell is None:
            cell = cell_number(cell_of, filename)
        key = (filename, line, cell)
        loc = _LOCATIONS.get(key)
        if loc is not None:
            return loc
        code = None
        if line is not None and line > 0:
            import linecache  # noqa: PLC0415

            code = linecache.getline(filename, line).strip()[:200] or None
        loc = Location(cell=cell, line=line, code=code, path=None if cell is not None else filename)
        if len(_LOCATIONS) > _PLACES_MAX:
            _LOCATIONS.clear()
        _LOCATIONS[key] = loc
        return loc
    except Exception as exc:  # noqa: BLE001
        errors.record("compilelib.locate", exc)
        return None


def locate_site(site: str | None) -> tuple[str | None, int | None]:
    """``("…/x.py", 12)`` from a ``"…/x.py:12"`` call site (None parts when it has none)."""
    if not site:
        return None, None
    filename, sep, line = site.rpartition(":")
    if sep and line.isdigit():
        return filename, int(line)
    return site, None


def site_text(loc: Location, function: str | None = None) -> str:
    """The text of a site (``"cell [3] line 5 (loss)"``), remembered so that :func:`located`
    finds its Location again from the text a record carries."""
    text = units.site(loc.text, function)
    places = _PLACES
    if text in places:
        places.move_to_end(text)
    else:
        places[text] = loc
        if len(places) > _PLACES_MAX:
            places.popitem(last=False)
    return text


def located(text: str | None) -> Location | None:
    """The Location a site text was made from by :func:`site_text` (None if unknown)."""
    if not text:
        return None
    try:
        return _PLACES.get(text)
    except Exception:  # noqa: BLE001 - a concurrent resize: rare, and a missing link is harmless
        return None


def cell_number(cell_of: Callable[[str], int | None] | None, filename: str) -> int | None:
    """The notebook cell a pseudo-file belongs to, or None (never raises)."""
    if cell_of is None:
        return None
    with errors.guard("compilelib.cell_of"):
        return cell_of(filename)
    return None


def place(filename: str, cell_of: Callable[[str], int | None] | None) -> str:
    """``cell [3]`` for a notebook cell's pseudo-file, else a short file name."""
    cell = cell_number(cell_of, filename)
    return f"cell [{cell}]" if cell is not None else short_path(filename)


def call_site(cell_of: Callable[[str], int | None] | None) -> tuple[str | None, int | None]:
    """The first stack frame outside JAX and jaxinspect: ("file:line", notebook cell or None)."""
    frame = sys._getframe(1)
    jax_dir = _jax_dir()
    fallback = None
    while frame is not None:
        filename = frame.f_code.co_filename
        absname = os.path.abspath(filename) if not filename.startswith("<") else filename
        if not (
            absname.startswith(jax_dir)
            or absname.startswith(_OWN_DIR)
            or filename.endswith(_SKIP_FRAMES)
            or "/jaxlib/" in absname
        ):
            site = (f"{filename}:{frame.f_lineno}", cell_number(cell_of, filename))
            if "site-packages" not in absname:
                # the user's line, past library wrappers such as nnx.jit
                return _outer_cell(frame, site, cell_of)
            fallback = fallback or site
        frame = frame.f_back
    return fallback if fallback is not None else (None, None)


def user_line() -> tuple[str, int] | None:
    """(file name, line) of the first frame outside JAX, jaxinspect and site-packages (the
    user's line calling in), or None. A few frames' walk: cheap enough for a checked watch()."""
    frame = sys._getframe(1)
    known = _USER_LINE_FILES
    while frame is not None:
        filename = frame.f_code.co_filename
        mine = known.get(filename)
        if mine is None:
            mine = (filename.startswith("<") or is_user_file(filename)) and not filename.startswith(
                ("<frozen", "<string")
            )
            if len(known) > 4096:
                known.clear()
            known[filename] = mine
        if mine:
            return filename, frame.f_lineno
        frame = frame.f_back
    return None


_USER_LINE_FILES: dict[str, bool] = {}  # file name -> is it the user's (cached: per watch() call)


def warn_at_user(message: str, category: type[Warning], cell_of: Any = None) -> None:
    """``warnings.warn`` pointing at the user's line: in a notebook cell the printed header
    reads ``cell [5]:3: UserWarning: …`` (module ``__main__``, as the cell's own warnings),
    never the kernel's temp file; in a file, that file and line. Warnings filters apply."""
    import warnings  # noqa: PLC0415

    where = user_line()
    if where is None:
        warnings.warn(message, category, stacklevel=2)
        return
    filename, line = where
    loc = locate(filename, line, cell_of if cell_of is not None else collector().cell_of)
    if loc is not None and loc.cell is not None:
        warnings.warn_explicit(message, category, f"cell [{loc.cell}]", line, module="__main__")
    else:
        warnings.warn_explicit(message, category, filename, line)


def _outer_cell(
    frame: Any, site: tuple[str, int | None], cell_of: Callable[[str], int | None] | None
) -> tuple[str, int | None]:
    """Code that a cell ran through ``shell.run_cell`` (``%%jit_profile``'s body, a line
    magic's statement) is compiled by IPython under the *next* execution count, so it would read
    ``cell [4]`` inside cell [3]. The outermost notebook-cell frame on the stack is the cell the
    user ran: such code is labelled with that cell, at the line the magic's code stands on."""
    inner = site[1]
    if inner is None:
        return site
    outer, number = None, None
    f = frame.f_back
    while f is not None:
        filename = f.f_code.co_filename
        if is_cell_file(filename) and filename != frame.f_code.co_filename:
            n = cell_number(cell_of, filename)
            if n is not None:
                outer, number = f, n
        f = f.f_back
    if outer is None or number is None or inner <= number:
        return site  # an earlier cell's function called from here: its own cell is right
    import linecache  # noqa: PLC0415

    text = linecache.getline(outer.f_code.co_filename, outer.f_lineno)
    inner_line = frame.f_lineno
    if "run_cell_magic(" in text:
        line = outer.f_lineno + inner_line  # the body starts on the line after %%magic
    elif "run_line_magic(" in text and inner_line == 1:
        line = outer.f_lineno
    else:
        line = outer.f_lineno  # the line that ran the code (the inner line is not known)
    return f"{outer.f_code.co_filename}:{line}", number


class _Frame:
    __slots__ = (
        "fun", "ji", "args", "kwargs", "sig", "start", "phases", "cache", "parent", "api", "outs",
        "memory",
    )

    def __init__(self, fun, ji, args, kwargs, parent=None, api="call"):
        self.fun, self.ji, self.args, self.kwargs = fun, ji, args, kwargs
        self.sig: signaturelib.Signature | None = None
        self.start = time.time()
        self.phases: dict[str, float] = {}
        self.cache: str | None = None
        self.parent = parent
        self.api = api
        self.outs: tuple[str, ...] = ()
        self.memory: CompiledMemory | None = None


class _ThreadState(threading.local):
    def __init__(self) -> None:
        self.infer: list[_Frame] = []
        self.runs: list[_Frame] = []
        self.pending: _Frame | None = None
        self.quiet = 0
        # the compiled memory of the executable XLA just returned, until the backend-compile
        # duration that JAX reports right after it says which frame it belongs to
        self.memory: CompiledMemory | None = None


def _weak(obj: Any) -> Callable[[], Any]:
    try:
        return weakref.ref(obj)
    except TypeError:
        return (lambda o: lambda: o)(obj)


def _partial_info(fun: Any) -> tuple | None:
    """(function name, positional args, keyword args) as text for a ``functools.partial``."""
    import functools  # noqa: PLC0415

    if not isinstance(fun, functools.partial):
        return None
    name = getattr(fun.func, "__name__", None) or type(fun.func).__name__
    args = tuple(signaturelib.short_repr(a, 40) for a in fun.args)
    keywords = tuple((k, signaturelib.short_repr(v, 40)) for k, v in (fun.keywords or {}).items())
    return name, args, keywords


def _partial_reason(now: tuple, before: list[tuple]) -> Reason:
    """A ``jax.jit(functools.partial(f, temperature=t))`` made again: name the partial, what
    differs from the last one, and why a value seen before compiles again."""
    name, args, keywords = now
    last = before[-1]
    bound = ", ".join([*args, *(f"{k}={v}" for k, v in keywords)])
    old_kw, new_kw = dict(last[2]), dict(keywords)
    changed = [k for k in dict.fromkeys([*old_kw, *new_kw]) if old_kw.get(k) != new_kw.get(k)]
    if last[1] != args:
        changed.insert(0, "positional arguments")
    path = changed[0] if changed else None
    what = (
        "; ".join(f"`{k}` {old_kw.get(k, '–')} → {new_kw.get(k, '–')}" for k in changed if k in old_kw or k in new_kw)
        if changed
        else "the same bound values"
    )
    seen = any(b[1:] == now[1:] for b in before[:-1]) or not changed
    again = (
        f" — {bound} was compiled before, but for another partial object: each new partial "
        "compiles again"
        if seen
        else ""
    )
    names = ", ".join(f"'{k}'" for k, _ in keywords) or "…"
    message = (
        f"a new functools.partial({name}, {bound}) was jitted ({what}){again}: jit caches per "
        f"function object, and a partial is a new object each time; jit `{name}` once and pass "
        f"the values as arguments (static_argnames=({names},) if they must be static)"
    )
    return Reason(
        "partial",
        path,
        ", ".join(f"{k}={old_kw[k]}" for k in changed if k in old_kw) or None,
        ", ".join(f"{k}={new_kw[k]}" for k in changed if k in new_kw) or None,
        message,
    )


def _distance(reasons: list[Reason]) -> int:
    """How far a previous call is from this one: a changed class or structure is far; a summary
    of many differences counts each of them."""
    return sum(
        1000 if r.kind in ("class", "structure") else max(1, len(r.details)) for r in reasons
    )


def _weak_all(objs: tuple) -> tuple:
    out = []
    for o in objs:
        try:
            out.append(weakref.ref(o))
        except TypeError:
            return ()
    return tuple(out)


MAX_PRINT_EQNS = 4000


def _program_print(closed_jaxpr: Any) -> int | None:
    """A fingerprint of a traced program (its printed text; for very large programs, the
    sequence of primitives and output types)."""
    try:
        inner = getattr(closed_jaxpr, "jaxpr", closed_jaxpr)
        eqns = getattr(inner, "eqns", ())
        if len(eqns) <= MAX_PRINT_EQNS:
            return hash(str(closed_jaxpr))
        return hash(
            tuple((str(e.primitive), tuple(str(v.aval) for v in e.outvars)) for e in eqns)
        )
    except Exception:  # noqa: BLE001 - an odd program: unknown
        return None


EAGER_API = {"scan": "lax.scan", "while": "lax.while_loop", "cond": "lax.cond"}


def eager_identity(
    prim: str, params: dict
) -> tuple[str, str, str | None, bool, tuple, str, str] | None:
    """For a higher-order primitive run eagerly (``lax.scan`` / ``while_loop`` / ``cond`` /
    ``fori_loop`` called outside jit): (key, display name, where the body is defined,
    internal?, body programs, API name, body names); None for first-order primitives
    (``jnp.ones``' ``broadcast_in_dim``: JAX-internal)."""
    bodies = compat.primitive_bodies(params)
    if not bodies:
        return None
    sources = [compat.body_source(j) for _, j in bodies]
    names = list(dict.fromkeys(n or "?" for n, _ in sources))
    wheres = [w for _, w in sources]
    where = next((w for w in wheres if w), None)
    internal = all(w is not None and _in_own_or_jax(w.rsplit(":", 1)[0]) for w in wheres)
    api = EAGER_API.get(prim, prim)
    shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
    keyed = []
    for w in wheres:
        filename, _, line = (w or "?").rpartition(":")
        keyed.append(f"cell:{line}" if is_cell_file(filename) else (w or "?"))
    key = f"<eager>.{api}({shown})@{','.join(dict.fromkeys(keyed))}"
    progs = tuple(j for _, j in bodies)
    return key, f"{api}({shown})", where, internal, progs, api, shown


PUBLIC_LOOPS = {
    "scan": "lax.scan",
    "fori_loop": "lax.fori_loop",
    "while_loop": "lax.while_loop",
    "cond": "lax.cond",
    "switch": "lax.switch",
    "map": "lax.map",
}


def _called_api(default: str) -> str:
    """The JAX function the user's code called (``lax.fori_loop`` runs as a scan or a while):
    the outermost frame of JAX's control-flow module before the user's (or a library's) frame."""
    frame = sys._getframe(2)
    jax_dir = _jax_dir()
    found = None
    while frame is not None:
        code = frame.f_code
        absname = os.path.abspath(code.co_filename)
        if absname.startswith(_OWN_DIR) or absname.endswith(_SKIP_FRAMES):
            frame = frame.f_back
            continue
        if not absname.startswith(jax_dir):
            break
        if "control_flow" in absname and code.co_name in PUBLIC_LOOPS:
            found = PUBLIC_LOOPS[code.co_name]
        frame = frame.f_back
    return found or default


def _in_own_or_jax(filename: str) -> bool:
    if filename.startswith("<"):
        return False
    return os.path.abspath(filename).startswith((_jax_dir(), _OWN_DIR))


class _History:
    """The last few signatures per function, for finding the closest previous call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, deque] = {}
        self._eager: dict[str, deque] = {}

    def reasons(
        self, key: str, fun: Any, ji: Any, sig: signaturelib.Signature, where: str | None
    ) -> tuple[Reason, ...]:
        return self.reasons_and_pair(key, fun, ji, sig, where)[0]

    def reasons_and_pair(
        self,
        key: str,
        fun: Any,
        ji: Any,
        sig: signaturelib.Signature,
        where: str | None,
        outs: tuple[str, ...] = (),
    ) -> tuple[tuple[Reason, ...], tuple | None]:
        """Reasons for this compile, and (previous entry, this entry) for re-tracing both:
        an entry is (weakref to the base function, id(jit info), signature, (static_argnums,
        static_argnames), weakref to the function jit wrapped, output shardings)."""
        with self._lock:
            entries = list(self._by_key.get(key, ()))
        original, fun = fun, base_function(fun)
        statics = (
            tuple(getattr(ji, "static_argnums", ()) or ()),
            tuple(getattr(ji, "static_argnames", ()) or ()),
        )
        partial = _partial_info(original)
        entry = (_weak(fun), id(ji), sig, statics, _weak(original), outs, partial)
        with self._lock:
            self._by_key.setdefault(key, deque(maxlen=HISTORY_PER_FUNCTION)).append(entry)
        if not entries:
            return (Reason("first_call", None, None, None, "first call"),), None
        same_fun = [e for e in entries if e[0]() is fun]
        if not same_fun:
            recent = list(reversed(entries))[:CLOSEST_SEARCH]
            closest, prev = min(((signaturelib.diff(e[2], sig), e) for e in recent), key=lambda d: _distance(d[0]))
            partials = [e[6] for e in entries if e[6] is not None]
            if partial is not None and partials:
                return (_partial_reason(partial, partials), *closest), (prev, entry)
            msg = (
                "function re-defined (same source line; e.g. a re-run cell): jit caches per "
                "function object, so each new definition compiles again"
            )
            return (Reason("redefined", None, None, None, msg), *closest), (prev, entry)
        # the closest of the most recent calls; the newest wins ties
        diffs = [
            (signaturelib.diff(e[2], sig), e) for e in list(reversed(same_fun))[:CLOSEST_SEARCH]
        ]
        closest, prev = min(diffs, key=lambda d: _distance(d[0]))
        pair = (prev, entry)
        if not closest:  # no argument changed: did an output's sharding? (a consequence otherwise)
            closest = _out_reasons(prev[5], outs)
        if closest:
            return tuple(closest), pair
        if all(e[1] != id(ji) for e in same_fun) and ji is not None:
            return (
                Reason(
                    "rewrapped",
                    None,
                    None,
                    None,
                    "a new jax.jit(...) wrapper of the same function was called: jit it once, "
                    "outside the loop, and reuse the jitted function",
                ),
            ), pair
        return (
            Reason(
                "unknown",
                None,
                None,
                None,
                "no argument changed: the compiled entry was evicted or cleared "
                "(jax.clear_caches(), or the cache size limit)",
            ),
        ), pair

    def eager_reasons(
        self, key: str, sig: signaturelib.Signature, bodies: tuple, api: str, names: str
    ) -> tuple[Reason, ...]:
        """Why an un-jitted ``lax.scan`` / ``while_loop`` / ``cond`` compiled: JAX jits the one
        primitive, keyed on its operands' types and on the body's traced program (by identity)."""
        ids = tuple(id(j) for j in bodies)
        with self._lock:
            entries = list(self._eager.get(key, ()))
            self._eager.setdefault(key, deque(maxlen=HISTORY_PER_FUNCTION)).append(
                (sig, ids, None, bodies and _weak_all(bodies))
            )
        if not entries:
            return (
                Reason(
                    "first_call",
                    None,
                    None,
                    None,
                    f"first call (an un-jitted {api} compiles its own program; inside a jitted "
                    "function it would compile once, with the caller)",
                ),
            )
        recent = list(reversed(entries))[:CLOSEST_SEARCH]
        closest, prev = min(((signaturelib.diff(e[0], sig), e) for e in recent), key=lambda d: _distance(d[0]))
        if closest:
            return tuple(closest)
        if prev[1] == ids:
            return (
                Reason(
                    "unknown",
                    None,
                    None,
                    None,
                    f"nothing changed: {api}'s compiled entry was evicted or cleared "
                    "(jax.clear_caches(), or the cache size limit)",
                ),
            )
        before = tuple(w() for w in prev[3]) if prev[3] else ()
        same = None  # the earlier program is gone, or cannot be printed: cannot compare
        if len(before) == len(bodies) and all(b is not None for b in before):
            prints = [(_program_print(a), _program_print(b)) for a, b in zip(before, bodies, strict=True)]
            if all(x is not None and y is not None for x, y in prints):
                same = all(x == y for x, y in prints)
        if same:
            message = (
                f"the body `{names}` passed to {api} is a new function object on each call (same "
                f"program, same argument types): an un-jitted {api} traces and compiles every new "
                "body function again; define it once outside the loop, or jit the code that calls "
                f"{api}"
            )
            return (Reason("redefined", names, None, None, message),)
        if same is False:
            message = (
                f"the body `{names}` of {api} traced to a different program with the same argument "
                "types (it closes over values that changed, e.g. Python numbers or a new function): "
                f"an un-jitted {api} compiles each variant; pass such values as operands, or jit "
                f"the code that calls {api}"
            )
        else:
            message = (
                f"the body `{names}` of {api} was traced again (a new function, or values it closes "
                f"over changed); the argument types are unchanged"
            )
        return (Reason("body", names, None, None, message),)

    def clear(self) -> None:
        with self._lock:
            self._by_key.clear()
            self._eager.clear()


class CompileCollector:
    """Installs the listeners and hooks while at least one sink is attached."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._sinks: list[Callable[[CompileEvent], None]] = []
        self._tls = _ThreadState()
        self._ids = itertools.count(1)
        self._uninstall: Callable[[], bool] | None = None
        self._uninstall_memory: Callable[[], bool] | None = None
        self._installed = False
        self.history = _History()
        self.cell_of: Callable[[str], int | None] | None = None
        self.available = True
        self._pairs: OrderedDict[int, tuple] = OrderedDict()
        self._jaxpr_listeners: list[Callable[[Any, Any], None]] = []

    # -- lifecycle -------------------------------------------------------------------------
    def attach(self, sink: Callable[[CompileEvent], None]) -> None:
        with self._lock:
            self._sinks.append(sink)
            if not self._installed:
                self._install()

    def detach(self, sink: Callable[[CompileEvent], None]) -> None:
        with self._lock:
            if sink in self._sinks:
                self._sinks.remove(sink)
            if not self._sinks and self._installed:
                self._uninstall_all()

    def add_jaxpr_listener(self, listener: Callable[[Any, Any], None]) -> None:
        """``listener(fun, jaxpr)`` for every user function jit traces at the top level (not
        JAX's own helpers, not jaxinspect's quiet traces); runs inline in the trace path.
        May raise ``errors.UserFacingError`` (an opt-in error for the user); anything else is
        contained."""
        with self._lock:
            self._jaxpr_listeners.append(listener)

    def remove_jaxpr_listener(self, listener: Callable[[Any, Any], None]) -> None:
        with self._lock:
            if listener in self._jaxpr_listeners:
                self._jaxpr_listeners.remove(listener)

    def _on_result(self, fun: Any, params: Any) -> None:
        tls = self._tls
        if tls.infer or tls.quiet:
            return  # nested in an outer trace (seen with it), or jaxinspect's own
        frame = tls.pending
        if frame is not None and frame.fun is fun and frame.phases:
            try:
                frame.outs = out_shardings(params)
            except Exception as exc:  # noqa: BLE001
                errors.record("compilelib.out_shardings", exc)
        listeners = self._jaxpr_listeners
        if not listeners:
            return
        try:
            if _is_internal(fun):
                return
            jaxpr = params.params["jaxpr"]
        except Exception as exc:  # noqa: BLE001
            errors.record("compilelib.on_result", exc)
            return
        for listener in list(listeners):
            try:
                listener(fun, jaxpr)
            except errors.UserFacingError:
                raise
            except Exception as exc:  # noqa: BLE001
                errors.record("compilelib.jaxpr_listener", exc)

    @property
    def installed(self) -> bool:
        return self._installed

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """jaxinspect's own traces/lowerings (``%jaxpr``) on this thread are not user compiles:
        they are neither reported nor remembered as a function's previous signature."""
        tls = self._tls
        self.flush()
        tls.quiet += 1
        try:
            yield
        finally:
            try:
                self.flush()
            finally:
                tls.quiet -= 1

    def _install(self) -> None:
        mon = compat.monitoring_module()
        mon.register_event_duration_secs_listener(self._on_duration)
        mon.register_event_listener(self._on_event)
        self._uninstall = compat.install_pjit_hooks(
            self._infer_frame, self._run_frame, self._trace_frame, self._on_result
        )
        self.available = self._uninstall is not None
        with errors.guard("compilelib.memory_hook"):
            self._uninstall_memory = install_memory_hook(self._on_executable)
        self._installed = True
        with errors.guard("compilelib.traceback_exclusions"):
            # our frames on jit's cache-miss path are hidden from users' tracebacks, as JAX's are
            here = os.path.dirname(os.path.abspath(__file__))
            compat.register_traceback_exclusions(
                [os.path.join(here, n) for n in ("compat.py", "compilelib.py", "signaturelib.py")]
            )

    def _uninstall_all(self) -> None:
        for kind, cb in (("duration", self._on_duration), ("event", self._on_event)):
            with errors.guard("compilelib.unregister"):
                compat.unregister_listener(kind, cb)
        if self._uninstall is not None:
            if not self._uninstall():
                errors.record(
                    "compilelib.uninstall",
                    RuntimeError(
                        "another tool wrapped jit's cache-miss path after jaxinspect; left it in place"
                    ),
                )
            self._uninstall = None
        if self._uninstall_memory is not None:
            if not self._uninstall_memory():
                errors.record(
                    "compilelib.uninstall_memory",
                    RuntimeError(
                        "another tool wrapped XLA's compile entry after jaxinspect; left it in place"
                    ),
                )
            self._uninstall_memory = None
        self._installed = False

    # -- hooks (user's thread, inside jit; must never raise) ----------------------------
    @contextlib.contextmanager
    def _infer_frame(self, fun, ji, args, kwargs) -> Iterator[None]:
        tls = self._tls
        frame = None
        try:
            if not tls.infer and tls.pending is not None:
                self._finish(tls.pending)  # a jit(f).trace() whose result was never run
                tls.pending = None
            parent = tls.infer[-1].fun if tls.infer else None
            frame = _Frame(fun, ji, args, kwargs, parent=parent, api="trace")
            tls.infer.append(frame)
        except Exception as exc:  # noqa: BLE001
            errors.record("compilelib.infer_enter", exc)
        try:
            yield
        finally:
            if frame is not None:
                try:
                    if tls.infer and tls.infer[-1] is frame:
                        tls.infer.pop()
                    if tls.pending is not None and tls.pending is not frame:
                        self._finish(tls.pending)
                    if frame.phases and frame.fun is not None:
                        _signature(frame)  # traced: don't keep the user's arrays while pending
                    tls.pending = frame
                except Exception as exc:  # noqa: BLE001
                    errors.record("compilelib.infer_exit", exc)

    @contextlib.contextmanager
    def _trace_frame(self, fun) -> Iterator[None]:
        """Times traces JAX does not report (nested jits traced inside an outer trace)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            try:
                tls = self._tls
                frame = tls.infer[-1] if tls.infer else None
                if frame is not None and "trace" not in frame.phases:
                    frame.phases["trace"] = time.perf_counter() - start
            except Exception as exc:  # noqa: BLE001
                errors.record("compilelib.trace_exit", exc)

    @contextlib.contextmanager
    def _run_frame(self, fun, args, kwargs) -> Iterator[None]:
        tls = self._tls
        frame = None
        try:
            pending = tls.pending
            if pending is not None and pending.fun is fun:
                frame, tls.pending = pending, None
                frame.api = "call"
            else:
                if pending is not None:
                    self._finish(pending)
                    tls.pending = None
                frame = _Frame(fun, None, args, kwargs, api="call")
            tls.runs.append(frame)
        except Exception as exc:  # noqa: BLE001
            errors.record("compilelib.run_enter", exc)
        try:
            yield
        finally:
            if frame is not None:
                try:
                    if tls.runs and tls.runs[-1] is frame:
                        tls.runs.pop()
                    self._finish(frame)
                except Exception as exc:  # noqa: BLE001
                    errors.record("compilelib.run_exit", exc)

    def _on_executable(self, executable: Any, args: tuple, kwargs: dict) -> None:
        """XLA returned an executable (compiled now, or loaded from the persistent cache): read
        what it needs. Runs only on a real compile, never on a jit cache hit."""
        tls = self._tls
        tls.memory = None
        if tls.quiet:
            return
        try:
            tls.memory = compiled_memory(executable, args, kwargs)
        except Exception as exc:  # noqa: BLE001
            errors.record("compilelib.compiled_memory", exc)

    def _on_duration(self, event: str, duration: float, **kwargs: Any) -> None:
        try:
            phase = PHASES.get(event)
            if phase is None:
                return
            tls = self._tls
            memory = None
            if phase == "compile":
                memory, tls.memory = tls.memory, None
            if phase == "trace":
                frame = tls.infer[-1] if tls.infer else None
            else:
                frame = tls.runs[-1] if tls.runs else tls.pending
            if frame is None:
                # a compile outside jit's Python path (e.g. an AOT .compile() of a stale trace)
                frame = _Frame(None, None, (), {}, api="call")
                frame.phases[phase] = duration
                frame.parent = kwargs.get("fun_name")
                frame.memory = memory
                self._finish(frame)
                return
            frame.phases[phase] = frame.phases.get(phase, 0.0) + duration
            if memory is not None:
                frame.memory = memory
        except Exception as exc:  # noqa: BLE001
            errors.record("compilelib.on_duration", exc)

    def _on_event(self, event: str, **kwargs: Any) -> None:
        try:
            if event not in (CACHE_HIT, CACHE_MISS):
                return
            tls = self._tls
            frame = tls.runs[-1] if tls.runs else tls.pending
            if frame is not None:
                frame.cache = "hit" if event == CACHE_HIT else "miss"
        except Exception as exc:  # noqa: BLE001
            errors.record("compilelib.on_event", exc)

    def flush(self) -> None:
        """Emit a pending ``jit(f).trace()`` frame of the calling thread."""
        tls = self._tls
        if tls.pending is not None and not tls.infer:
            pending, tls.pending = tls.pending, None
            self._finish(pending)

    # -- building the event -----------------------------------------------------------------
    def _finish(self, frame: _Frame) -> None:
        if not frame.phases or self._tls.quiet:
            return
        if frame.parent is not None and _is_internal(frame.fun):
            return  # jnp's own jitted helpers traced inside a user's trace: noise, and not free
        try:
            event = self._build(frame)
        except Exception as exc:  # noqa: BLE001
            errors.record("compilelib.build", exc)
            return
        with self._lock:
            sinks = list(self._sinks)
        for sink in sinks:
            with errors.guard("compilelib.sink"):
                sink(event)

    def _build(self, frame: _Frame) -> CompileEvent:
        fun = frame.fun
        site, cell = call_site(self.cell_of)
        if fun is None:
            name = frame.parent or "?"
            key, where, internal = f"<untracked>.{name}", None, False
            reasons: tuple[Reason, ...] = (
                Reason(
                    "unknown",
                    None,
                    None,
                    None,
                    "compiled outside jit's call path (AOT lower/compile)",
                ),
            )
            sig_text, parent, pair = "", None, None
        elif (eager := _eager(fun)) is not None:
            key, name, where, internal, bodies, api, names = eager
            if where is None:  # no debug info on the body: tell call sites apart instead
                key += f"@site:{site}"
            called = _called_api(api)
            if called != api:
                api, name = called, f"{called}({names})"
            sig = frame.sig or _signature(frame)
            reasons = (
                () if internal else self.history.eager_reasons(key, sig, bodies, api, names)
            )
            sig_text, parent, pair = describe_signature(sig), None, None
        else:
            key, name, where, internal = function_identity(fun)
            ji = frame.ji
            sig = frame.sig or _signature(frame)
            reasons, pair = (
                self.history.reasons_and_pair(key, fun, ji, sig, where, frame.outs)
                if not internal
                else ((), None)
            )
            sig_text = describe_signature(sig)
            parent = function_identity(frame.parent)[1] if frame.parent is not None else None
        phases = frame.phases
        event = CompileEvent(
            id=next(self._ids),
            fun_key=key,
            fun_name=name,
            defined_at=where,
            call_site=site,
            cell=cell,
            trace_s=phases.get("trace"),
            lower_s=phases.get("lower"),
            compile_s=phases.get("compile"),
            total_s=sum(phases.values()),
            persistent_cache=frame.cache,
            time=frame.start,
            thread=threading.current_thread().name,
            process_index=_process_index(),
            internal=internal,
            parent=parent,
            api=frame.api,
            signature=sig_text,
            reasons=tuple(reasons),
            # nothing known about any output (all "unspecified"): record nothing
            out_shardings=frame.outs if _any_known(frame.outs) else (),
            memory=frame.memory,
            call=locate(*locate_site(site), self.cell_of, cell=cell),
            defined=locate(*locate_site(where), self.cell_of),
        )
        if pair is not None:
            with self._lock:
                self._pairs[event.id] = pair
                while len(self._pairs) > PAIRS_KEPT:
                    self._pairs.popitem(last=False)
        return event

    def pair_for(self, event_id: int) -> tuple | None:
        """(previous, this) history entries of a recompile event, for re-tracing both."""
        with self._lock:
            return self._pairs.get(event_id)


COMPILE_ENTRY = ("jax._src.compiler", "compile_or_get_cached")
LIMIT_DEVICES = 16  # devices whose memory limit is read per compile (the smallest counts)


def install_memory_hook(on_executable: Callable[[Any, tuple, dict], None]):
    """Wrap ``jax._src.compiler.compile_or_get_cached`` (jax 0.10 – 0.12: the one place that
    returns the ``LoadedExecutable`` XLA built or loaded from the persistent cache; jit's cache
    hits never reach it) so ``on_executable(executable, args, kwargs)`` sees each executable.
    Returns ``uninstall()`` (True when ours was still in place), or None when this JAX lacks it."""
    module_name, name = COMPILE_ENTRY
    compiler = compat.loaded_module(module_name)
    if compiler is None:
        import importlib  # noqa: PLC0415

        compiler = importlib.import_module(module_name)
    original = getattr(compiler, name, None)
    if not callable(original):
        return None

    def compile_or_get_cached(*args: Any, **kwargs: Any) -> Any:
        executable = original(*args, **kwargs)
        try:
            on_executable(executable, args, kwargs)
        except Exception as exc:  # noqa: BLE001 - never into the user's compile
            errors.record("compilelib.on_executable", exc)
        return executable

    compile_or_get_cached.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(compiler, name, compile_or_get_cached)

    def uninstall() -> bool:
        if getattr(compiler, name, None) is compile_or_get_cached:
            setattr(compiler, name, original)
            return True
        return False

    return uninstall


def _whole_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _cost_number(cost: dict, key: str) -> float | None:
    value = cost.get(key)
    if value is None or isinstance(value, bool):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if value == value and value >= 0 else None  # NaN / negative: not reported


def _program_devices(executable: Any, args: tuple, kwargs: dict) -> list:
    """The executable's devices in this process (``local_devices()``), else the devices
    ``compile_or_get_cached`` was given (its third argument) that this process can address."""
    try:
        devices = list(executable.local_devices())
        if devices:
            return devices[:LIMIT_DEVICES]
    except Exception:  # noqa: BLE001 - an executable without local_devices()
        pass
    given = kwargs.get("devices", args[2] if len(args) > 2 else None)
    try:
        flat = list(given.flat) if hasattr(given, "flat") else list(given or ())
    except TypeError:
        return []
    here = _process_index()
    return [d for d in flat if getattr(d, "process_index", here) == here][:LIMIT_DEVICES]


def device_limit(devices: list) -> int | None:
    """The smallest ``Device.memory_stats()['bytes_limit']`` of these devices; None when no
    device reports one (CPU: ``memory_stats()`` is None)."""
    limits = []
    for d in devices:
        try:
            stats = d.memory_stats()
        except Exception:  # noqa: BLE001 - a backend without memory stats
            continue
        limit = _whole_or_none(stats.get("bytes_limit")) if isinstance(stats, dict) else None
        if limit:
            limits.append(limit)
    return min(limits) if limits else None


def compiled_memory(executable: Any, args: tuple = (), kwargs: dict | None = None) -> CompiledMemory:
    """What ``Compiled.memory_analysis()`` and ``cost_analysis()`` say about ``executable`` (a
    ``LoadedExecutable``), read the way JAX's ``stages.Compiled`` reads them; what the backend
    does not report (it raises, returns None, or lacks the method) stays None."""
    stats = None
    get_stats = getattr(executable, "get_compiled_memory_stats", None)
    if get_stats is not None:
        try:
            stats = get_stats()
        except Exception:  # noqa: BLE001 - "UNIMPLEMENTED" on some backends
            stats = None
    cost = None
    get_cost = getattr(executable, "cost_analysis", None)
    if get_cost is not None:
        try:
            cost = get_cost()
        except Exception:  # noqa: BLE001
            cost = None
    if isinstance(cost, (list, tuple)):  # older jaxlibs: one dict per program
        cost = cost[0] if cost and isinstance(cost[0], dict) else None
    if not isinstance(cost, dict):
        cost = {}
    devices = _program_devices(executable, args, kwargs or {})
    platform = getattr(devices[0], "platform", None) if devices else None

    def size(field: str) -> int | None:
        return _whole_or_none(getattr(stats, field, None)) if stats is not None else None

    return CompiledMemory(
        argument_bytes=size("argument_size_in_bytes"),
        output_bytes=size("output_size_in_bytes"),
        alias_bytes=size("alias_size_in_bytes"),
        temp_bytes=size("temp_size_in_bytes"),
        generated_code_bytes=size("generated_code_size_in_bytes"),
        flops=_cost_number(cost, "flops"),
        bytes_accessed=_cost_number(cost, "bytes accessed"),
        device_limit_bytes=device_limit(devices),
        platform=str(platform) if platform is not None else None,
    )


def _eager(fun: Any) -> tuple | None:
    """``eager_identity`` of a higher-order primitive JAX runs eagerly, else None."""
    info = compat.eager_primitive(fun) if fun is not None else None
    return eager_identity(*info) if info is not None else None


def _signature(frame: _Frame) -> signaturelib.Signature:
    """The frame's call signature; afterwards the frame holds no reference to the arguments."""
    ji = frame.ji
    eager = compat.eager_primitive(frame.fun)
    if eager is not None:
        sig = signaturelib.primitive_signature(eager[0], eager[1], tuple(frame.args))
        frame.sig, frame.args, frame.kwargs = sig, (), {}
        return sig
    sig = signaturelib.signature(
        frame.fun,
        frame.args,
        frame.kwargs,
        getattr(ji, "static_argnums", ()),
        getattr(ji, "static_argnames", ()),
        getattr(ji, "fun_signature", None),
    )
    frame.sig, frame.args, frame.kwargs = sig, (), {}
    return sig


MAX_OUTPUTS = 32


def out_shardings(params: Any) -> tuple[str, ...]:
    """Each output's sharding from jit's ``PjitParams``: what ``out_shardings=`` asked for, else
    the explicit-mesh sharding of the output type, else "unspecified" (the compiler picks).
    Bounded to ``MAX_OUTPUTS`` (then "… N more")."""
    p = params.params
    asked = tuple(p.get("out_shardings") or ())
    jaxpr = p.get("jaxpr")
    avals = tuple(getattr(jaxpr, "out_avals", ()) or ())
    n = max(len(asked), len(avals))
    out = []
    for i in range(min(n, MAX_OUTPUTS)):
        s = asked[i] if i < len(asked) else None
        text = None
        if s is not None and "Unspecified" not in type(s).__name__ and "Auto" not in type(s).__name__:
            text = signaturelib.sharding_text(_Holder(s))
        elif i < len(avals):
            aval_sharding = getattr(avals[i], "sharding", None)
            spec = getattr(aval_sharding, "spec", None)
            mesh = getattr(aval_sharding, "mesh", None)
            if spec is not None and mesh is not None and not getattr(mesh, "empty", True) and any(
                a is not None for a in spec
            ):
                text = signaturelib.sharding_text(avals[i])
        out.append(text or "unspecified")
    if n > MAX_OUTPUTS:
        out.append(f"… {n - MAX_OUTPUTS} more")
    return tuple(out)


def _any_known(outs: tuple[str, ...]) -> bool:
    return any(o != "unspecified" and not o.startswith("… ") for o in outs)


class _Holder:
    __slots__ = ("sharding",)

    def __init__(self, sharding: Any) -> None:
        self.sharding = sharding


def _out_reasons(before: tuple[str, ...], after: tuple[str, ...]) -> list[Reason]:
    """Output shardings that changed between two compiles with the same arguments (e.g. a new
    ``jit(f, out_shardings=...)``, or a mesh with other axis types)."""
    if not before or not after or before == after:
        return []
    out = []
    for i, (b, a) in enumerate(zip(before, after, strict=False)):
        if b != a:
            path = f"output {i}"
            out.append(Reason("sharding", path, b, a, signaturelib.sharding_message(path, b, a)))
        if len(out) >= 3:
            break
    return out


def _process_index() -> int:
    if not compat.backends_initialized():
        return 0
    jax = compat.loaded_module("jax")
    try:
        return int(jax.process_index())
    except Exception:  # noqa: BLE001
        return 0


def describe_signature(sig: signaturelib.Signature, limit: int = 6) -> str:
    parts = [f"{leaf.path}: {leaf.describe()}" for leaf in sig.leaves[:limit]]
    if len(sig.leaves) > limit:
        parts.append(f"… {len(sig.leaves) - limit} more")
    parts += [f"{name}={signaturelib.short_repr(v, 30)} (static)" for name, v in sig.static[:3]]
    return ", ".join(parts)


_collector: CompileCollector | None = None
_collector_lock = threading.Lock()


def collector() -> CompileCollector:
    """The process-wide collector (hooks are installed only while it has sinks)."""
    global _collector
    with _collector_lock:
        if _collector is None:
            _collector = CompileCollector()
        return _collector
