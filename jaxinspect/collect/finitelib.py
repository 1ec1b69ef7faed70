"""Exact NaN/Inf checks of watched trees, one per ``watch()`` call.

Each call dispatches one compiled computation per tree structure that counts the NaN and Inf
values of every floating leaf (small leaves are padded into a few size classes, so a 5,000-leaf
tree is a handful of kernels, not 5,000). The call returns at once: the counts are read on a
background thread, never on the training thread. The compile for a new structure runs on that
thread too; calls made meanwhile are recorded as not checked.
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from .. import errors
from . import bufferlib, compilelib

bufferlib.register_own_source(__file__)  # the count tables are jaxinspect's, not the user's
_CHECKERS: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """Stop the reader threads before the interpreter goes: a daemon thread still waiting on a
    device result while Python finalizes aborts the process."""
    for checker in list(_CHECKERS):
        checker.close()

BIG = 1 << 14  # leaves at least this large get a reduction of their own
CHUNK = 256  # float leaves per compiled check: a big tree is a few calls of a few programs
SYNC_COMPILE = CHUNK  # trees with at most this many float leaves compile on the first call
MAX_PLANS = 256  # tree shapes checked at most (a tree whose shapes change every call: a KV cache)
SYNC_PLANS = 16  # after this many shapes, new ones compile off-thread (never stall the loop)


class Plan:
    """How one tree structure is checked: which flat indices hold float leaves, cut into chunks
    of at most ``CHUNK`` leaves, and a compiled check per chunk (``compiled`` is None until all
    are ready). Chunks with the same shapes share one program (a model's repeated blocks)."""

    def __init__(self, signature: tuple, float_idx: list[int]) -> None:
        self.signature = signature
        self.float_idx = float_idx
        self.chunks = [(i, min(i + CHUNK, len(float_idx))) for i in range(0, len(float_idx), CHUNK)]
        self.compiled: list[Any] | None = None
        self.failed: str | None = None
        self.exec_s: float | None = None  # one run of the check, measured off-thread
        self.pending = False
        self.uses = 0


def inexact(x: Any) -> bool:
    import numpy as np

    dtype = getattr(x, "dtype", None)
    if dtype is None or not hasattr(x, "shape"):
        return False
    try:
        return bool(np.issubdtype(dtype, np.inexact))
    except TypeError:  # PRNG key dtypes, bfloat16 in old numpy
        name = getattr(dtype, "name", "")
        return name in ("bfloat16", "float8_e4m3fn", "float8_e5m2", "float16")


def _signature(leaves: list[Any]) -> tuple:
    out = []
    for x in leaves:
        shape = getattr(x, "shape", None)
        dtype = getattr(x, "dtype", None)
        out.append((tuple(shape) if shape is not None else None, str(dtype)))
    return tuple(out)


def check_fn(sizes: list[int]) -> Callable[[list[Any]], Any]:
    """A function of the float leaves (in order) → int32[n, 2]: NaN and Inf counts per leaf.

    Exact, and about one read of the leaves: a plain sum per leaf (a NaN/Inf anywhere makes it
    non-finite; a sum that overflows is only a suspect) decides, in a ``lax.cond``, whether the
    counts are computed at all — on a finite step they are not (counting costs ~6× a sum)."""
    import jax
    import jax.numpy as jnp

    order: dict[int, list[int]] = {}  # size class → positions
    big: list[int] = []
    for pos, size in enumerate(sizes):
        if size >= BIG:
            big.append(pos)
        else:
            cls = 1 << max(0, (max(size, 1) - 1).bit_length())
            order.setdefault(cls, []).append(pos)

    def wide(x):  # half precision sums in float32 (a bf16 / f16 sum overflows early)
        return x.astype(jnp.float32) if x.dtype.itemsize < 4 and not jnp.iscomplexobj(x) else x

    def counts(x):
        return jnp.isnan(x).sum(axis=-1, dtype=jnp.int32), jnp.isinf(x).sum(axis=-1, dtype=jnp.int32)

    def guarded(x, shape):
        total = jnp.sum(x, axis=-1)
        zero = jnp.zeros(shape, jnp.int32)
        return jax.lax.cond(jnp.all(jnp.isfinite(total)), lambda x: (zero, zero), counts, x)

    def check(xs: list[Any]) -> Any:
        n = len(xs)
        nan = [None] * n
        inf = [None] * n
        for pos in big:
            nan[pos], inf[pos] = guarded(wide(xs[pos].ravel()), ())
        for cls, positions in order.items():
            rows = []
            for pos in positions:
                x = wide(xs[pos].ravel())
                rows.append(jnp.pad(x, (0, cls - x.size)) if x.size < cls else x)
            dtype = jnp.result_type(*[r.dtype for r in rows])
            block = jnp.stack([r.astype(dtype) for r in rows])
            counts_nan, counts_inf = guarded(block, (len(positions),))
            for i, pos in enumerate(positions):
                nan[pos] = counts_nan[i]
                inf[pos] = counts_inf[i]
        if n == 0:
            return jnp.zeros((0, 2), jnp.int32)
        return jnp.stack([jnp.stack(nan), jnp.stack(inf)], axis=1)

    return check


def _why(exc: Exception) -> str:
    text = str(exc)
    if "deleted" in text or "donated" in text:
        return "its arrays were donated or deleted before the check ran"
    return f"{type(exc).__name__}: {text.splitlines()[0][:200] if text else ''}"


class Pending:
    __slots__ = ("key", "call", "step", "result", "plan", "time")

    def __init__(self, key: Any, call: int, step: int | None, result: Any, plan: Plan) -> None:
        self.key = key
        self.call = call
        self.step = step
        self.result = result
        self.plan = plan
        self.time = time.time()


class Checker:
    """Dispatches checks on the caller's thread and reads them on one daemon thread, in order.

    ``on_result(key, call, step, counts | None, note[, float_idx])`` runs on that thread:
    ``counts`` is an int32 (float leaves × 2) host array for the leaves at flat indices
    ``float_idx``, or None with a note when the call was not checked.
    """

    MAX_PENDING = 4096

    def __init__(self, on_result: Callable[..., None]) -> None:
        self._on_result = on_result
        self._plans: dict[tuple, Plan] = {}
        self._by_key: dict[Any, Plan] = {}
        self._programs: dict[tuple, Any] = {}  # chunk signature → compiled check
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._inflight = 0
        self._closed = False
        _CHECKERS.add(self)

    # -- the training thread ---------------------------------------------------------------------
    def plan(self, leaves: list[Any], key: Any = None) -> Plan:
        """The plan for this structure, created on first sight: found by ``key`` (a treedef:
        hashing it is cheap) and else by the leaves' shapes and dtypes (not cheap for thousands
        of leaves). A key whose shapes changed fails in ``submit`` and is looked up again."""
        if key is not None:
            plan = self._by_key.get(key)
            if plan is not None:
                return plan
        sig = _signature(leaves)
        plan = self._plans.get(sig)
        if plan is not None and key is not None:
            self._by_key[key] = plan
        if plan is None:
            float_idx = [i for i, x in enumerate(leaves) if inexact(x)]
            too_many = len(self._plans) >= MAX_PLANS
            plan = Plan(sig, float_idx)
            if too_many:
                plan.failed = (
                    f"more than {MAX_PLANS} different tree shapes were watched (shapes that change "
                    "every call, e.g. a growing cache, are not checked)"
                )
                return plan
            self._plans[sig] = plan
            if key is not None:
                self._by_key[key] = plan
            if len(float_idx) <= SYNC_COMPILE and len(self._plans) <= SYNC_PLANS:
                self._compile(plan, leaves)
            else:  # its own thread: other trees' checks are read meanwhile
                plan.pending = True
                threading.Thread(
                    target=self._compile, args=(plan, list(leaves)), name="jaxinspect-finite-compile",
                    daemon=True,
                ).start()
        return plan

    def submit(self, key: Any, call: int, step: int | None, leaves: list[Any], plan: Plan) -> bool:
        """Dispatch the check of ``leaves`` (asynchronously). False when it could not be: the
        plan is still compiling or failed, or a leaf was deleted (donated) already."""
        compiled = plan.compiled
        if compiled is None:
            return False
        xs = [leaves[i] for i in plan.float_idx]
        try:
            result = [fn(xs[a:b]) for fn, (a, b) in zip(compiled, plan.chunks, strict=True)]
        except Exception as exc:  # noqa: BLE001 - a deleted/donated leaf, a sharding change
            self._by_key = {k: p for k, p in self._by_key.items() if p is not plan}
            self._put(("note", key, call, step, _why(exc)))
            return False
        self._put(("check", Pending(key, call, step, result, plan)))
        return True

    def skipped(self, key: Any, call: int, step: int | None, note: str) -> None:
        self._put(("note", key, call, step, note))

    def _put(self, item: Any) -> None:
        with self._lock:
            if self._closed:
                return
            self._inflight += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="jaxinspect-finite", daemon=True
                )
                self._thread.start()
        self._queue.put(item)

    # -- compile ---------------------------------------------------------------------------------
    def _compile(self, plan: Plan, leaves: list[Any]) -> None:
        import jax

        xs = [leaves[i] for i in plan.float_idx]
        try:
            with compilelib.collector().quiet():
                compiled = []
                for a, b in plan.chunks:
                    part = xs[a:b]
                    sig = _signature(part) + tuple(str(getattr(x, "sharding", "")) for x in part)
                    fn = self._programs.get(sig)
                    if fn is None:
                        # jax.jit, called once here: that compiles it and fills jit's C++ call
                        # cache, so the training thread's calls take the fast path (~10 µs; an
                        # AOT-compiled object's call goes through Python: ~300 µs)
                        sizes = [int(getattr(x, "size", 1)) for x in part]
                        fn = jax.jit(check_fn(sizes))
                        jax.block_until_ready(fn(part))
                        self._programs[sig] = fn
                    compiled.append(fn)
                runs = []
                for _ in range(3):
                    start = time.perf_counter()
                    jax.block_until_ready([fn(xs[a:b]) for fn, (a, b) in zip(compiled, plan.chunks, strict=True)])
                    runs.append(time.perf_counter() - start)
                plan.exec_s = min(runs)
            plan.compiled = compiled
        except Exception as exc:  # noqa: BLE001 - deleted leaves, odd dtypes
            plan.failed = f"{type(exc).__name__}: {exc}"
            errors.record("finitelib.compile", exc)
        finally:
            plan.pending = False

    # -- the reader thread -----------------------------------------------------------------------
    def _run(self) -> None:
        import numpy as np

        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                kind = item[0]
                if kind == "note":
                    _, key, call, step, note = item
                    self._on_result(key, call, step, None, note)
                else:
                    p: Pending = item[1]
                    try:
                        parts = [np.asarray(r) for r in p.result]
                        counts = np.concatenate(parts) if parts else np.zeros((0, 2), np.int32)
                    except Exception as exc:  # noqa: BLE001
                        self._on_result(p.key, p.call, p.step, None, f"{type(exc).__name__}: {exc}")
                    else:
                        p.result = None
                        self._on_result(p.key, p.call, p.step, counts, None, p.plan.float_idx)
            except Exception as exc:  # noqa: BLE001 - never let the reader die
                errors.record("finitelib.reader", exc)
            finally:
                # drop this item before waiting for the next: a frame's locals outlive the loop
                # turn, and a host view of a count table (np.asarray on CPU shares the device
                # buffer) would keep jaxinspect's array alive past %unload_ext
                item = p = parts = counts = None
                with self._lock:
                    self._inflight -= 1
                    if self._inflight == 0:
                        self._idle.notify_all()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every dispatched check has been read (tests, ``sample_watched``)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._inflight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout=5)
        self._plans.clear()
        self._by_key.clear()
        self._programs.clear()
