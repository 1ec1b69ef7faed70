"""Device buffers: a metadata-only snapshot of every live ``jax.Array`` — shape, dtype, bytes per
device, sharding, creation site — and which variable of the user's namespace holds it.

Never copies array contents to the host and never keeps an array alive: the list from
``jax.live_arrays()`` lives only inside ``take_snapshot``; records carry ids and text.
May run on the sampler thread: it never imports (``compat.loaded_module``) and reads user
containers through ``list(...)`` copies.
"""

from __future__ import annotations

import collections
import functools
import gc
import math
import os
import re
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from .. import errors
from ..records import DeviceMemory, ShardRecord
from . import compat, compilelib

OWNER_NODE_BUDGET = 400_000  # objects visited by the owner walk
OWNER_TIME_BUDGET = 0.5  # seconds
OWNER_MAX_DEPTH = 12
YIELD_EVERY = 256  # arrays read between GIL yields on the sampler thread
MAX_SEQ_ITEMS = 100_000  # elements read from one list / tuple / dict
_SKIP_MODULES = (
    "IPython", "ipykernel", "jupyter", "traitlets", "zmq", "tornado", "asyncio", "jaxinspect",
    "matplotlib", "pandas", "plotly", "ipywidgets", "anywidget", "logging", "threading",
    "concurrent", "socket", "ssl", "comm", "_pytest", "pytest", "nbclient", "jax.", "jaxlib",
    "numpy", "builtins", "typing", "inspect", "importlib", "weakref", "collections.abc",
)  # fmt: skip
_SLOT_NAMES = {"_raw_value": "value"}  # nnx.Variable keeps its array in a slot
# Flax NNX bookkeeping on every Module / Variable (trace state, metadata, node names): never
# arrays, and on a large model most of the objects the walk would otherwise visit
_SKIP_ATTRS = frozenset(
    {"_trace_state", "_var_metadata", "_pytree__state", "_pytree__nodes", "_object__state", "_object__nodes"}
)
_IPYTHON_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython", "open"})
_OUT_ALIAS = re.compile(r"^_{1,3}$|^_\d+$|^_i{1,3}$|^_i\d+$|^_[iod]h$")


def device_label(device: Any) -> str:
    return f"{getattr(device, 'platform', '?')}:{getattr(device, 'id', '?')}"


def type_str(shape: tuple, dtype: Any) -> str:
    name = getattr(dtype, "name", str(dtype))
    short = _SHORT_DTYPES.get(name, name)
    return f"{short}[{','.join(str(d) for d in shape)}]"


_SHORT_DTYPES = {
    "float32": "f32", "float16": "f16", "bfloat16": "bf16", "float64": "f64", "int32": "i32",
    "int64": "i64", "int8": "i8", "int16": "i16", "uint8": "u8", "uint32": "u32", "uint64": "u64",
    "bool": "bool", "complex64": "c64", "complex128": "c128", "uint16": "u16",
}  # fmt: skip


class _Info:
    """One live array while a snapshot is being taken (no reference to the array)."""

    __slots__ = (
        "id", "shape", "dtype", "type", "nbytes", "per_device", "sharding", "committed",
        "deleted", "site", "owner", "holder",
    )  # fmt: skip

    def __init__(self, id, shape, dtype, type, nbytes, per_device, sharding, committed, deleted, site):  # noqa: A002, PLR0913
        self.id = id
        self.shape = shape
        self.dtype = dtype
        self.type = type
        self.nbytes = nbytes
        self.per_device = per_device
        self.sharding = sharding
        self.committed = committed
        self.deleted = deleted
        self.site = site
        self.owner: str | None = None
        self.holder: str | None = None


@dataclass
class Snapshot:
    """Every live array of one moment, as plain data."""

    time: float
    arrays: list[_Info]
    devices: list[DeviceMemory]
    attributed: bool
    partial: bool
    took_s: float
    deleted: int = 0
    errors: int = 0
    owner_nodes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    own_arrays: int = 0  # jaxinspect's own arrays, left out of everything above
    own_bytes: int = 0

    def still_alive(self, ids: set[int]) -> set[int]:
        """Which of ``ids`` are still live arrays after a full garbage collection (arrays kept
        only by reference cycles are garbage, not a leak). Main thread only: it collects."""
        jax = compat.loaded_module("jax")
        if jax is None:
            return set(ids)
        gc.collect()
        return {id(a) for a in jax.live_arrays() if id(a) in ids}


# -- jaxinspect's own arrays ------------------------------------------------------------------------

_OWN = "\x00jaxinspect"  # the site of an array jaxinspect made (never shown)
_PKG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "")
_REGISTERED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
# modules whose arrays are jaxinspect's even when a user's call runs them (statistics tables)
_OWN_SOURCES: set[str] = {os.path.join(_PKG_DIR, "collect", "paramlib.py")}


def register_own_source(path: str) -> None:
    """Arrays created by code in the jaxinspect file ``path`` are jaxinspect's own, also when
    the user's code called it (other jaxinspect frames are seen through as hooks: arrays made
    by a user's call that passed through jaxinspect are the user's; arrays made with no user
    frame on the stack, e.g. on the sampler thread, are jaxinspect's)."""
    _OWN_SOURCES.add(os.path.abspath(path))


def register_own(*arrays: Any) -> None:
    """Mark arrays as jaxinspect's own, so no user view lists them. Arrays created by code in
    the jaxinspect package are recognised by their creation site without this; register the
    ones made elsewhere that jaxinspect keeps (e.g. outputs of a user's jitted step that carry
    jaxinspect's statistics). Weak: a registered array is freed as usual."""
    for arr in arrays:
        try:
            _REGISTERED[id(arr)] = arr
        except TypeError:  # not weak-referenceable: not a jax.Array
            continue


_HOLDERS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def register_holder(label: str, obj: Any) -> None:
    """Name an object of jaxinspect's that keeps users' arrays alive (e.g. a nan_guard keeping
    the previous call's inputs): arrays no user variable holds but ``obj`` does are shown as
    held by ``<jaxinspect: label>`` instead of "no variable holds these". Weak: ``obj`` must be
    weak-referenceable and is not kept alive."""
    try:
        _HOLDERS[str(label)] = obj
    except TypeError:
        return


def is_own(arr: Any) -> bool:
    """True for an array jaxinspect made (creation site in the package) or registered."""
    if _REGISTERED and _REGISTERED.get(id(arr)) is arr:
        return True
    return _Sites(None).site(arr) == _OWN


# -- per-array metadata ---------------------------------------------------------------------------


class _Sites:
    """Creation site of an array from ``Array.traceback``: the innermost frame in user code
    (a notebook cell or a file outside site-packages / JAX / jaxinspect), or ``_OWN`` when the
    innermost frame outside JAX and libraries is jaxinspect's (its own statistics; user code
    that jaxinspect runs, as in ``%%jit_profile``, stays the user's). Cached per traceback."""

    def __init__(self, cell_of: Any) -> None:
        self.cell_of = cell_of
        self.cache: dict[Any, str | None] = {}
        self.places: dict[str, Any] = {}  # site text -> its Location

    def site(self, arr: Any) -> str | None:
        try:
            tb = arr.traceback
        except Exception:  # noqa: BLE001
            return None
        if tb is None:
            return None
        try:
            cached = self.cache.get(tb, _MISSING)
        except TypeError:
            cached = _MISSING
        if cached is not _MISSING:
            return cached
        text = None
        try:
            ours = False
            caller = None  # generated or exec'd code (`python -c`, exec) that called through our hook
            for frame in tb.frames:
                filename = frame.file_name
                if filename.startswith(_PKG_DIR):
                    if filename in _OWN_SOURCES:
                        text = _OWN  # made by a module that makes jaxinspect's own arrays
                        break
                    ours = True  # a hook on the user's call (cache-miss path, jax.random): see through
                    continue
                if filename.startswith("<string"):
                    if ours and caller is None:
                        caller = frame
                    continue
                if not compilelib.is_user_file(filename):
                    continue
                text = self.format(filename, frame.line_num, frame.function_name)
                break
            else:
                if caller is not None:  # the user's call, from code with no file: still the user's
                    text = self.format(caller.file_name, caller.line_num, caller.function_name)
                elif ours:
                    text = _OWN  # no user frame at all: the sampler thread, a monitor's thread
        except Exception:  # noqa: BLE001
            text = None
        try:
            self.cache[tb] = text
        except TypeError:
            pass
        return text

    def format(self, filename: str, line: int, func: str) -> str:
        loc = compilelib.locate(filename, line, self.cell_of)
        if loc is None:
            func = str(func).rsplit("<locals>.", 1)[-1]
            return f"{compilelib.short_path(filename)}:{line}" + (f" ({func})" if func != "<module>" else "")
        text = compilelib.site_text(loc, func)  # "cell [3] line 5 (fn)"
        if len(self.places) < 4096:
            self.places[text] = loc
        return text


_MISSING = object()


def sharding_text(sharding: Any) -> str:
    name = type(sharding).__name__
    spec = getattr(sharding, "spec", None)
    mesh = getattr(sharding, "mesh", None)
    if spec is not None and mesh is not None:
        axes = ",".join(
            f"{n}={s}"
            for n, s in zip(getattr(mesh, "axis_names", ()), getattr(mesh, "axis_sizes", ()), strict=False)
        )
        return f"{name}(mesh[{axes}], {spec})"
    devices = getattr(sharding, "_device_assignment", None) or ()
    if name == "SingleDeviceSharding":
        dev = next(iter(sharding.device_set))
        return f"single device {device_label(dev)}"
    return f"{name}({len(devices) or len(sharding.device_set)} devices)"


class _Devices:
    """Per-array metadata with caches per dtype and per sharding object (10 000 arrays share a
    handful of each): bytes per device come from the shard shape × itemsize, never shard data."""

    def __init__(self) -> None:
        self.labels: dict[int, str] = {}
        self.dtypes: dict[Any, tuple[str, str, int]] = {}
        self.shardings: dict[int, tuple] = {}  # id → (sharding kept alive, text, labels or None)
        self.shard_bytes: dict[tuple, int] = {}
        self.types: dict[tuple, str] = {}

    def type_of(self, short: str, shape: tuple) -> str:
        key = (short, shape)
        text = self.types.get(key)
        if text is None:
            text = self.types[key] = f"{short}[{','.join(map(str, shape))}]"
        return text

    def label(self, device: Any) -> str:
        key = id(device)
        text = self.labels.get(key)
        if text is None:
            text = self.labels[key] = device_label(device)
        return text

    def dtype(self, dtype: Any) -> tuple[str, str, int]:
        cached = self.dtypes.get(dtype)
        if cached is None:
            name = getattr(dtype, "name", str(dtype))
            cached = (name, _SHORT_DTYPES.get(name, name), int(getattr(dtype, "itemsize", 0)))
            self.dtypes[dtype] = cached
        return cached

    def sharding(self, sharding: Any) -> tuple:
        cached = self.shardings.get(id(sharding))
        if cached is None:
            devices = sharding.device_set
            if len(devices) == 1:
                labels: tuple[str, ...] | None = (self.label(next(iter(devices))),)
            else:
                addressable = getattr(sharding, "addressable_devices", devices)
                labels = tuple(self.label(d) for d in addressable)
            cached = (sharding, sharding_text(sharding), labels, len(devices) == 1)
            self.shardings[id(sharding)] = cached
        return cached

    def per_device(self, sharding: Any, shape: tuple, itemsize: int, nbytes: int, info: tuple) -> dict[str, int]:
        _keep, _text, labels, single = info
        if single:
            return {labels[0]: nbytes}
        key = (id(sharding), shape)
        shard_bytes = self.shard_bytes.get(key)
        if shard_bytes is None:
            shard_bytes = int(math.prod(sharding.shard_shape(shape))) * itemsize
            self.shard_bytes[key] = shard_bytes
        return dict.fromkeys(labels, shard_bytes)


def _info(arr: Any, devices: _Devices, sites: _Sites | None) -> _Info:
    """Metadata of one array; the hot loop of a snapshot (10 000 arrays), so caches are read
    directly and the slow paths are only taken once per dtype / sharding / shape."""
    aval = arr.aval
    shape = aval.shape
    dtype = aval.dtype
    d = devices.dtypes.get(dtype)
    if d is None:
        d = devices.dtype(dtype)
    name, short, itemsize = d
    tkey = (short, shape)
    type_text = devices.types.get(tkey)
    if type_text is None:
        type_text = devices.type_of(short, shape)
    nbytes = math.prod(shape) * itemsize
    sharding = arr.sharding
    sh = devices.shardings.get(id(sharding))
    if sh is None:
        sh = devices.sharding(sharding)
    deleted = arr.is_deleted()
    if deleted:
        per_device = {}
    elif sh[3]:
        per_device = {sh[2][0]: nbytes}
    else:
        per_device = devices.per_device(sharding, shape, itemsize, nbytes, sh)
    site = None
    if sites is not None:
        tb = arr.traceback
        if tb is not None:
            try:
                site = sites.cache[tb]
            except KeyError:
                site = sites.site(arr)
            except TypeError:
                site = None
    return _Info(id(arr), shape, name, type_text, nbytes, per_device, sh[1], arr.committed, deleted, site)


# -- owners: a bounded walk of the user's namespace ------------------------------------------------


class _OwnerWalk:
    """Breadth-first over the user's namespace: the first (shortest) path to each live array.

    Paths are linked (parent, suffix, is-list-index) tuples, turned into text only for arrays
    that are found (parents memoized); array children are matched without being queued.
    Bounded by nodes, depth and time (``partial`` when cut)."""

    def __init__(self, targets: dict[int, _Info], array_types: set, budget_nodes: int, budget_s: float) -> None:
        self.targets = targets
        self.array_types = array_types
        self.budget_nodes = budget_nodes
        self.deadline = time.perf_counter() + budget_s
        self.seen: set[int] = set()
        # every visited object stays referenced until the walk ends: containers such as
        # nnx.State make their sub-trees on the fly, and a freed temporary's id would be
        # reused by the next one, which the walk would then skip as "seen"
        self._visited: list[Any] = []
        self.ours = False  # also read jaxinspect's own objects (the roots of register_holder)
        self.found = 0
        self.nodes = 0
        self.partial = False
        self._paths: dict[int, tuple] = {}  # id(node) → (node kept alive, path, holder)
        self.cooperative = False

    def _text(self, node: tuple) -> tuple[str, str]:
        """(path, holder) of a path node; memoized for parents shared by many arrays."""
        cached = self._paths.get(id(node))
        if cached is not None:
            return cached[1], cached[2]
        parent, suffix, is_index = node
        if parent is None:
            path = suffix
            holder = "Out" if suffix.startswith("Out[") else suffix
        else:
            ppath, pholder = self._text(parent)
            path = ppath + suffix
            if parent[0] is None and not is_index and pholder != "Out":
                holder = path  # root + first component: `state.params`, `params['dense']`
            else:
                holder = pholder
        self._paths[id(node)] = (node, path, holder)
        return path, holder

    def run(self, roots: list[tuple[str, Any]]) -> None:
        array_types = self.array_types
        targets = self.targets
        queue: collections.deque = collections.deque()
        for name, obj in roots:
            if type(obj) in array_types:
                info = targets.get(id(obj))
                if info is not None and info.owner is None:
                    info.owner = name
                    info.holder = "Out" if name.startswith("Out[") else name
                    self.found += 1
            elif not _atomic(obj):
                queue.append((obj, (None, name, False), 0))
        seen = self.seen
        visited = self._visited
        ours = self.ours
        total = len(targets)
        atomic_types = _ATOMIC_TYPES
        text = self._text
        while queue:
            if self.found >= total:
                return
            obj, node, depth = queue.popleft()
            key = id(obj)
            if key in seen:
                continue
            seen.add(key)
            visited.append(obj)
            self.nodes += 1
            if self.nodes % 256 == 0:
                if time.perf_counter() > self.deadline:
                    self.partial = True
                    return
                if self.cooperative:
                    time.sleep(0)
            if self.nodes > self.budget_nodes:
                self.partial = True
                return
            if depth >= OWNER_MAX_DEPTH:
                continue
            mode, data = self.children(obj)
            depth += 1
            parent_path = parent_holder = None
            if mode == "seq":
                data = enumerate(data)
            for k, child in data:
                t = type(child)
                if t in atomic_types:
                    continue
                if t in array_types:
                    info = targets.get(id(child))
                    if info is None or info.owner is not None:
                        continue
                    suffix, is_index = _suffix(mode, k)
                    if parent_path is None:
                        parent_path, parent_holder = text(node)
                    info.owner = parent_path + suffix
                    if node[0] is None and not is_index and parent_holder != "Out":
                        info.holder = info.owner  # root + first component
                    else:
                        info.holder = parent_holder
                    self.found += 1
                    continue
                if id(child) in seen:
                    continue
                kind = _KINDS.get(t)
                if kind is None:
                    kind = _kind(t)
                if kind == _K_ATOMIC or kind == _K_SKIP or (kind == _K_OURS and not ours):
                    continue
                if t is tuple and len(child) <= 8 and all(type(e) in atomic_types for e in child):
                    continue  # (2, 4), (-1,): module settings, never an array
                if (kind == _K_MAP or kind == _K_SEQ) and not len(child):
                    continue  # FrozenDict({}), []: nothing inside
                inline = _INLINE.get(t, _MISSING)
                if inline is _MISSING:
                    inline = _inline_slot(t)
                if inline is not None:  # an nnx.Variable: its one value, without queueing it
                    try:
                        value = object.__getattribute__(child, inline[0])
                    except AttributeError:
                        value = None
                    if type(value) in array_types:
                        info = targets.get(id(value))
                        if info is not None and info.owner is None:
                            suffix, is_index = _suffix(mode, k)
                            if parent_path is None:
                                parent_path, parent_holder = text(node)
                            info.owner = parent_path + suffix + inline[1]
                            if node[0] is None and not is_index and parent_holder != "Out":
                                info.holder = parent_path + suffix
                            else:
                                info.holder = parent_holder
                            self.found += 1
                        continue
                suffix, is_index = _suffix(mode, k)
                queue.append((child, (node, suffix, is_index), depth))

    def children(self, obj: Any) -> tuple[str, Any]:
        """("map", [(key, child)]), ("seq", [child]), ("attrs", [(name, child)]) or ("pairs",
        [((suffix, is_index), child)]).
        How to read an object is decided once per type (no ``hasattr`` on instances: an
        ``nnx.Variable``'s ``__getattr__`` raises for every missing name, which is slow)."""
        try:
            kind = _KINDS.get(type(obj))
            if kind is None:
                kind = _kind(type(obj))
            if kind == _K_MAP:
                t = type(obj)
                mapping = _inner_mapping(obj) if t.__module__.startswith("flax.") else obj
                return "map", list(mapping.items())[:MAX_SEQ_ITEMS]
            if kind == _K_SEQ:
                return "seq", list(obj)[:MAX_SEQ_ITEMS]
            if kind == _K_OBJ or (kind == _K_OURS and self.ours):
                return "attrs", _object_children(obj)
            if kind == _K_NAMED:
                return "pairs", [((f".{n}", False), getattr(obj, n, None)) for n in obj._fields]
            if kind == _K_SET:
                return "pairs", [(("{…}", True), v) for v in list(obj)[:MAX_SEQ_ITEMS]]
            if kind == _K_FUNC or (kind == _K_JAXFUNC and hasattr(obj, "__wrapped__")):
                return "pairs", self.function_children(obj)
            return "pairs", ()
        except Exception:  # noqa: BLE001 - user containers can be odd; skip them
            return "pairs", ()

    @staticmethod
    def function_children(fn: Any):
        owner = getattr(fn, "__self__", None)
        if owner is not None and hasattr(fn, "__func__"):  # a bound method: its object
            return [((".__self__", False), owner)]
        out = []
        wrapped = getattr(fn, "__wrapped__", None)
        if wrapped is not None:
            out.append((("", False), wrapped))
        inner = getattr(fn, "func", None)  # functools.partial
        if inner is not None and callable(inner):
            out += [((f".args[{i}]", False), a) for i, a in enumerate(getattr(fn, "args", ()) or ())]
            out += [((f".keywords[{k!r}]", False), v) for k, v in (getattr(fn, "keywords", {}) or {}).items()]
            out.append((("", False), inner))
        code = getattr(fn, "__code__", None)
        closure = getattr(fn, "__closure__", None)
        if code is not None and closure:
            for name, cell in zip(code.co_freevars, closure, strict=False):
                try:
                    out.append(((f".<closure {name}>", False), cell.cell_contents))
                except ValueError:  # an empty cell
                    continue
        defaults = getattr(fn, "__defaults__", None)
        if defaults:
            out += [((f".<default {i}>", False), v) for i, v in enumerate(defaults)]
        return out


_K_MAP, _K_NAMED, _K_SEQ, _K_SET, _K_FUNC, _K_JAXFUNC, _K_SKIP, _K_OBJ, _K_ATOMIC, _K_OURS = range(10)
_KINDS: dict[type, int] = {}  # how the owner walk reads an object, per type
_SLOTS: dict[type, tuple[tuple[str, str], ...]] = {}  # (slot, shown name) per type
_ATOMIC = (str, bytes, bytearray, int, float, complex, bool, type(None), range)
_ATOMIC_TYPES = frozenset(_ATOMIC)


def _kind(t: type) -> int:
    """Decided from the type alone, once (types are few; instances are many)."""
    try:
        kind = _classify(t)
    except Exception:  # noqa: BLE001 - an odd metaclass
        kind = _K_SKIP
    if len(_KINDS) < 100_000:
        _KINDS[t] = kind
    return kind


def _classify(t: type) -> int:
    module = getattr(t, "__module__", None) or ""
    if issubclass(t, _ATOMIC) or module == "numpy" or t.__name__ == "module":
        return _K_ATOMIC
    if issubclass(t, type):
        return _K_SKIP
    if issubclass(t, dict):
        return _K_MAP
    if issubclass(t, tuple) and hasattr(t, "_fields"):
        return _K_NAMED
    if issubclass(t, (list, tuple, collections.deque)):
        return _K_SEQ
    if issubclass(t, (set, frozenset)):
        return _K_SET
    if all(hasattr(t, a) for a in ("items", "keys", "__getitem__")):
        return _K_MAP  # a Mapping: nnx.State, FrozenDict, ...
    if hasattr(t, "__code__") or issubclass(t, functools.partial):
        return _K_FUNC
    if hasattr(t, "__func__") and hasattr(t, "__self__"):
        return _K_FUNC  # bound methods
    if (module == "jax" or module.startswith(("jax.", "jaxlib"))) and any(
        "__call__" in c.__dict__ for c in t.__mro__[:-1]
    ):
        return _K_JAXFUNC  # jitted functions: `__wrapped__` is per instance
    if module == "jaxinspect" or module.startswith("jaxinspect."):
        return _K_OURS  # read only from a registered holder (register_holder)
    if module.startswith(_SKIP_MODULES):
        return _K_SKIP
    return _K_OBJ


def _slots(t: type) -> tuple[bool, tuple[tuple[str, str], ...]]:
    """(instances have a ``__dict__``, (slot, shown name) ...) of a type, cached."""
    cached = _SLOTS.get(t)
    if cached is None:
        out = []
        for cls in t.__mro__:
            slots = cls.__dict__.get("__slots__")
            if isinstance(slots, str):
                slots = (slots,)
            for slot in slots or ():
                if slot not in ("__dict__", "__weakref__") and slot not in _SKIP_ATTRS:
                    out.append((slot, _SLOT_NAMES.get(slot, slot)))
        cached = (bool(getattr(t, "__dictoffset__", 1)), tuple(out))
        if len(_SLOTS) < 100_000:
            _SLOTS[t] = cached
    return cached


def _object_children(obj: Any) -> list[tuple[str, Any]]:
    """(attribute name, value) of an object's ``__dict__`` and slots (slot names as shown)."""
    has_dict, slots = _slots(type(obj))
    out: list[tuple[str, Any]] = []
    d = None
    if has_dict:
        try:
            d = object.__getattribute__(obj, "__dict__")
        except AttributeError:
            d = None
    if isinstance(d, dict) and d:
        atomic = _ATOMIC_TYPES
        out = [
            (k, v)
            for k, v in list(d.items())[:MAX_SEQ_ITEMS]
            if type(v) not in atomic and type(k) is str and k[:2] != "__" and k not in _SKIP_ATTRS
        ]
    for slot, shown in slots:
        try:
            value = object.__getattribute__(obj, slot)
        except AttributeError:
            continue
        out.append((shown, value))
    return out


_INLINE: dict[type, tuple[str, str] | None] = {}


def _inner_mapping(obj: Any) -> Any:
    """The plain dict inside Flax's mappings (``nnx.State._mapping``, FrozenDict's ``_dict``),
    read without the wrapper's Python-level ``items()``; else the object itself."""
    for name in ("_mapping", "_dict"):
        try:
            inner = object.__getattribute__(obj, name)
        except AttributeError:
            continue
        if type(inner) is dict:
            return inner
    return obj


def _inline_slot(t: type) -> tuple[str, str] | None:
    """(slot, shown suffix) for a type whose instances hold one value in one slot and nothing
    else (``nnx.Variable``: ``_raw_value``): the walk reads that value in place."""
    try:
        has_dict, slots = _slots(t)
        kind = _KINDS.get(t)
        if kind is None:
            kind = _kind(t)
        found = (slots[0][0], "." + slots[0][1]) if kind == _K_OBJ and not has_dict and len(slots) == 1 else None
    except Exception:  # noqa: BLE001
        found = None
    if len(_INLINE) < 100_000:
        _INLINE[t] = found
    return found


def _suffix(mode: str, k: Any) -> tuple[str, bool]:
    """The path suffix of a child and whether it is a list index."""
    if mode == "map":
        return f"[{k!r}]", type(k) is int  # {step: state}: like a list item, the dict holds it
    if mode == "seq":
        return f"[{k}]", True
    if mode == "attrs":
        return (f"[{k}]", True) if k.isdigit() else (f".{k}", False)  # nnx.List: "0", "1"
    return k


def _atomic(obj: Any) -> bool:
    kind = _KINDS.get(type(obj))
    if kind is None:
        kind = _kind(type(obj))
    return kind == _K_ATOMIC


def namespace_roots(ns: dict[str, Any]) -> list[tuple[str, Any]]:
    """User variables first (so they win over output-history aliases), then ``Out``."""
    users, history = [], []
    for name, value in list(ns.items()):
        if name in _IPYTHON_NAMES or (name.startswith("__") and name.endswith("__")):  # dunders
            if name == "Out" and isinstance(value, dict):
                history += [(f"Out[{k}]", v) for k, v in list(value.items())]
            continue
        if _OUT_ALIAS.match(name):
            continue  # `_`, `__`, `_12`: aliases of Out entries, reported as Out[n]
        if type(value).__name__ == "module":
            continue
        users.append((name, value))
    return users + history


# -- the snapshot -----------------------------------------------------------------------------------


def take_snapshot(
    namespace: dict[str, Any] | None,
    *,
    cell_of: Any = None,
    attribute: bool = True,
    sites: bool = True,
    budget_nodes: int = OWNER_NODE_BUDGET,
    budget_s: float = OWNER_TIME_BUDGET,
    shard_details: int = 0,
    cooperative: bool = False,
) -> Snapshot:
    """Every live array now: metadata, bytes per device, creation site, owner (bounded walk).
    ``cooperative`` (the sampler thread): yield the GIL every few hundred items so a training
    loop on the main thread is not held up while the snapshot runs."""
    start = time.perf_counter()
    jax = compat.loaded_module("jax")
    if jax is None or not compat.backends_initialized():
        return Snapshot(time.time(), [], [], False, False, 0.0, extra={"shards": {}})
    live = jax.live_arrays()
    infos: list[_Info] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()  # 10 000 small records: don't let the collector scan the user's heap meanwhile
    try:
        devices = _Devices()
        site_finder = _Sites(cell_of)  # also tells jaxinspect's own arrays apart
        registered = _REGISTERED if len(_REGISTERED) else None
        n_errors = own_n = own_b = 0
        for k, arr in enumerate(live):
            if cooperative and k % YIELD_EVERY == 0:
                time.sleep(0)  # let the training thread take the GIL
            try:
                info = _info(arr, devices, site_finder)
            except Exception:  # noqa: BLE001 - deleted / donated mid-snapshot, odd array types
                n_errors += 1
                continue
            if info.site == _OWN or (registered is not None and registered.get(id(arr)) is arr):
                own_n += 1
                own_b += info.nbytes
                continue
            if not sites:
                info.site = None
            infos.append(info)
        shard_map: dict[int, list[ShardRecord]] = {}
        if shard_details:
            multi = sorted((i for i in infos if len(i.per_device) > 1), key=lambda i: -i.nbytes)
            wanted = {i.id for i in multi[:shard_details]}
            for arr in live:
                if id(arr) in wanted:
                    with errors.guard("bufferlib.shards"):
                        shard_map[id(arr)] = shards(arr)
        partial = False
        nodes = 0
        attributed = bool(attribute and namespace is not None)
        if attributed:
            walk = _OwnerWalk({i.id: i for i in infos}, {type(a) for a in live}, budget_nodes, budget_s)
            walk.cooperative = cooperative
            walk.run(namespace_roots(namespace))
            partial, nodes = walk.partial, walk.nodes
            holders = [(label, obj) for label, obj in list(_HOLDERS.items()) if obj is not None]
            if holders and not partial and walk.found < len(walk.targets):
                # what only jaxinspect keeps (a nan_guard's previous inputs): named as such,
                # after the user's variables, which always win
                rest = {i.id: i for i in infos if i.owner is None}
                more = _OwnerWalk(rest, {type(a) for a in live}, budget_nodes, budget_s)
                more.ours = True
                # the "<jaxinspect: " prefix: analyze.bufferstats.OWN_HOLDER_PREFIX (not a leak)
                more.run([(f"<jaxinspect: {label}>", obj) for label, obj in holders])
                partial, nodes = more.partial, nodes + more.nodes
            del holders
    finally:
        del live  # never keep the user's arrays alive past the snapshot
        if gc_was_enabled:
            gc.enable()
    memory = device_memory(jax, infos)
    return Snapshot(
        time=time.time(),
        arrays=infos,
        devices=memory,
        attributed=attributed,
        partial=partial,
        took_s=time.perf_counter() - start,
        deleted=sum(1 for i in infos if i.deleted) + n_errors,
        errors=n_errors,
        owner_nodes=nodes,
        extra={"shards": shard_map, "places": site_finder.places},
        own_arrays=own_n,
        own_bytes=own_b,
    )


def device_memory(jax: Any, infos: list[_Info]) -> list[DeviceMemory]:
    counts: dict[str, list[int]] = {}
    single: dict[str, list[int]] = {}  # arrays on one device: the common case, one dict op each
    for info in infos:
        pd = info.per_device
        if len(pd) == 1:
            for label, nbytes in pd.items():
                entry = single.get(label)
                if entry is None:
                    single[label] = [1, nbytes]
                else:
                    entry[0] += 1
                    entry[1] += nbytes
            continue
        for label, nbytes in pd.items():
            entry = counts.setdefault(label, [0, 0])
            entry[0] += 1
            entry[1] += nbytes
    for label, (n, nbytes) in single.items():
        entry = counts.setdefault(label, [0, 0])
        entry[0] += n
        entry[1] += nbytes
    out = []
    try:
        devices = jax.local_devices()
    except Exception:  # noqa: BLE001
        devices = []
    for d in devices:
        label = device_label(d)
        stats = None
        try:
            stats = d.memory_stats()
        except Exception:  # noqa: BLE001 - not implemented on this backend
            stats = None
        stats = stats or {}
        arrays, nbytes = counts.pop(label, [0, 0])
        out.append(
            DeviceMemory(
                device=label,
                id=int(getattr(d, "id", 0)),
                platform=str(getattr(d, "platform", "?")),
                arrays=arrays,
                bytes=nbytes,
                bytes_in_use=_int(stats.get("bytes_in_use")),
                peak_bytes_in_use=_int(stats.get("peak_bytes_in_use")),
                bytes_limit=_int(stats.get("bytes_limit")),
            )
        )
    for label, (arrays, nbytes) in counts.items():  # devices of other processes
        out.append(DeviceMemory(label, -1, label.split(":")[0], arrays, nbytes, None, None, None))
    return out


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) else None


# -- shards of one array ------------------------------------------------------------------------------


def shards(arr: Any) -> list[ShardRecord]:
    """Which block of ``arr`` lives on which device (metadata only), any rank."""
    sharding = arr.sharding
    shape = tuple(arr.shape)
    itemsize = arr.dtype.itemsize
    index_map = sharding.devices_indices_map(shape)
    seen: dict[tuple, int] = {}
    out = []
    for device, index in sorted(index_map.items(), key=lambda kv: getattr(kv[0], "id", 0)):
        bounds = []
        for dim, sl in zip(shape, index, strict=False):
            start, stop, _step = sl.indices(dim) if isinstance(sl, slice) else (sl, sl + 1, 1)
            bounds.append((start, stop))
        key = tuple(bounds)
        replica = seen.get(key, 0)
        seen[key] = replica + 1
        block = tuple(b - a for a, b in bounds)
        out.append(
            ShardRecord(
                device=device_label(device),
                device_id=int(getattr(device, "id", 0)),
                bounds=key,
                shape=block,
                bytes=int(math.prod(block)) * itemsize,
                replica=replica,
            )
        )
    return out


# -- jax.profiler.device_memory_profile(): a gzipped pprof protobuf, parsed without dependencies --


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes):
    """(field number, wire type, value) of one protobuf message; length-delimited as bytes."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + n], pos + n
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos : pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _ints(wire: int, value: Any) -> list[int]:
    """A repeated integer field: packed (bytes) or one varint."""
    if wire != 2:
        return [value]
    out, pos = [], 0
    while pos < len(value):
        v, pos = _varint(value, pos)
        out.append(v)
    return out


def parse_pprof(data: bytes) -> list[dict[str, Any]]:
    """Samples of a (gzipped) pprof profile: {"values": {type: n}, "labels": {k: v},
    "frames": [(function, file, line), ...] innermost first}."""
    import gzip

    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    strings: list[str] = []
    sample_types: list[tuple[int, int]] = []
    samples_raw: list[bytes] = []
    locations: dict[int, list[tuple[int, int]]] = {}
    functions: dict[int, tuple[int, int]] = {}
    for number, _wire, value in _fields(raw):
        if number == 6:
            strings.append(value.decode("utf-8", "replace"))
        elif number == 1:
            vt = dict((f, v) for f, _w, v in _fields(value))
            sample_types.append((vt.get(1, 0), vt.get(2, 0)))
        elif number == 2:
            samples_raw.append(value)
        elif number == 4:
            loc_id, lines = 0, []
            for f, _w, v in _fields(value):
                if f == 1:
                    loc_id = v
                elif f == 4:
                    ln = dict((g, x) for g, _x, x in _fields(v))
                    lines.append((ln.get(1, 0), ln.get(2, 0)))
            locations[loc_id] = lines
        elif number == 5:
            fn = dict((f, v) for f, _w, v in _fields(value))
            functions[fn.get(1, 0)] = (fn.get(2, 0), fn.get(4, 0))

    def s(i: int) -> str:
        return strings[i] if 0 <= i < len(strings) else ""

    out = []
    for blob in samples_raw:
        loc_ids: list[int] = []
        values: list[int] = []
        labels: dict[str, Any] = {}
        for f, w, v in _fields(blob):
            if f == 1:
                loc_ids += _ints(w, v)
            elif f == 2:
                values += _ints(w, v)
            elif f == 3:
                lab = dict((g, x) for g, _x, x in _fields(v))
                labels[s(lab.get(1, 0))] = s(lab[2]) if lab.get(2) else lab.get(3, 0)
        frames = []
        for loc in loc_ids:
            for fn_id, line in locations.get(loc, ()):
                name, filename = functions.get(fn_id, (0, 0))
                frames.append((s(name), s(filename), line))
        out.append(
            {
                "values": {s(t): values[i] for i, (t, _u) in enumerate(sample_types) if i < len(values)},
                "labels": labels,
                "frames": frames,
            }
        )
    return out


def memory_profile(cell_of: Any = None, top: int = 15) -> dict[str, Any]:
    """``jax.profiler.device_memory_profile()`` summarized: bytes per (kind, device) — buffers
    and compiled executables — and the largest allocation sites (the first user frame)."""
    import jax

    samples = parse_pprof(jax.profiler.device_memory_profile())
    sites = _Sites(cell_of)
    totals: dict[tuple[str, str], list[int]] = {}
    by_site: dict[tuple[str, str], list[int]] = {}
    for smp in samples:
        kind = str(smp["labels"].get("kind", "?"))
        device = str(smp["labels"].get("device", "?"))
        nbytes = int(smp["values"].get("space", 0))
        count = int(smp["values"].get("allocations", 0))
        entry = totals.setdefault((kind, device), [0, 0])
        entry[0] += count
        entry[1] += nbytes
        where = next(
            (sites.format(f, line, name) for name, f, line in smp["frames"] if compilelib.is_user_file(f)),
            None,
        )
        site_entry = by_site.setdefault((kind, where or "(inside JAX)"), [0, 0])
        site_entry[0] += count
        site_entry[1] += nbytes
    return {
        "totals": [
            {"kind": k, "device": d, "allocations": n, "bytes": b}
            for (k, d), (n, b) in sorted(totals.items(), key=lambda kv: -kv[1][1])
        ],
        "sites": [
            {"kind": k, "site": w, "allocations": n, "bytes": b}
            for (k, w), (n, b) in sorted(by_site.items(), key=lambda kv: -kv[1][1])[:top]
        ],
        "samples": len(samples),
    }
