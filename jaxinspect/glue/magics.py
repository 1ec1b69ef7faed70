"""Magics: ``%jaxinspect SUBCOMMAND``, ``%jaxpr`` and ``%jit_profile``; thin sugar over the Python API.

Every magic is declared with IPython's ``magic_arguments`` (so ``%jaxpr?`` / ``%jaxinspect?`` show
help generated from the parsers), but the line is not split the shell way: an expression such as
``params['dense']`` or ``f(x, y)`` keeps its quotes and spaces. ``split_line`` cuts the line into
Python-aware words (brackets and strings kept whole); words that are options go to the argparse
parser — before or after the expression — and the rest, exactly as typed, is the expression.
A bad option or value is one line naming it, plus the usage; never a traceback.
"""

from __future__ import annotations

import argparse
import ast
import re
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from .. import errors
from ..collect import keyslib
from . import processes
from .display import Message
from .session import SESSION, profile, track_keys

# -- splitting a magic's line ----------------------------------------------------------------------

_OPTION = re.compile(r"--?[A-Za-z][\w-]*(=.*)?\Z", re.S)
_CLOSE = {")": "(", "]": "[", "}": "{"}


class BadLine(Exception):
    """A magic's line that cannot be read: the message is shown as one line plus the usage."""


def split_line(line: str) -> tuple[list[tuple[int, int]], str | None]:
    """Top-level words of ``line`` as (start, end) spans: whitespace inside brackets or string
    literals does not split, and a ``#`` comment (to the end) is dropped. Iterative (a 3,000-term
    expression is fine). Returns the spans and a problem (unterminated string, unbalanced
    bracket) or None; on a problem the last word runs to the end of the line."""
    spans: list[tuple[int, int]] = []
    depth: list[str] = []
    start = -1
    i, n = 0, len(line)
    problem = None
    while i < n:
        ch = line[i]
        if start < 0:
            if ch.isspace():
                i += 1
                continue
            start = i
        if ch in "'\"":
            quote = line[i : i + 3] if line[i : i + 3] in ("'''", '"""') else ch
            j = i + len(quote)
            while j < n and not line.startswith(quote, j):
                j += 2 if line[j] == "\\" else 1
            if j >= n:
                problem = "unterminated string"
                i = n
                break
            i = j + len(quote)
            continue
        if ch == "#" and not depth:  # a comment: not part of any word
            if start < i:
                spans.append((start, i))
            start = -1
            break
        if ch in "([{":
            depth.append(ch)
        elif ch in _CLOSE:
            if not depth or depth[-1] != _CLOSE[ch]:
                problem = problem or f"unbalanced {ch!r}"
            else:
                depth.pop()
        elif ch.isspace() and not depth:
            spans.append((start, i))
            start = -1
        i += 1
    if start >= 0:
        spans.append((start, n))
    if depth and problem is None:
        problem = f"unclosed {depth[-1]!r}"
    return spans, problem


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return parser._option_string_actions  # noqa: SLF001 - argparse's own table of option strings


def parse_line(parser: argparse.ArgumentParser, line: str) -> tuple[argparse.Namespace, str, str | None]:
    """Options of ``line`` (anywhere: before or after the expression) parsed by ``parser``, and
    the expression: the other words, as typed. Returns (namespace, expression, problem from
    ``split_line``); raises ``BadLine`` naming the culprit.

    ``--word`` is always an option (unknown ones are refused); a single-dash word (``-o``) is an
    option when the parser knows it or when no expression word came before it — so ``y = a -b``
    stays code. ``--`` ends the options."""
    spans, problem = split_line(line)
    table = _actions(parser)
    argv: list[str] = []
    expr_at: list[int] = []
    i = 0
    while i < len(spans):
        s, e = spans[i]
        word = line[s:e]
        i += 1
        if word == "--" and not expr_at:
            expr_at.extend(range(i, len(spans)))
            break
        if not _OPTION.match(word):
            expr_at.append(i - 1)
            continue
        name, eq, value = word.partition("=")
        action = table.get(name)
        if action is None and not name.startswith("--"):
            shorts = [table.get(f"-{c}") for c in name[1:]]
            if not eq and len(name) > 2 and all(a is not None and a.nargs == 0 for a in shorts):
                argv.extend(f"-{c}" for c in name[1:])  # -oq
                continue
            if expr_at:  # `y = a -b`: part of the expression, not an option
                expr_at.append(i - 1)
                continue
        if action is None:
            raise BadLine(f"unknown option {name!r}")
        if action.nargs == 0:
            if eq:
                raise BadLine(f"{name} takes no value (got {word!r})")
            argv.append(name)
            continue
        if not eq:
            nxt = line[spans[i][0] : spans[i][1]] if i < len(spans) else None
            if action.nargs == "?" and (nxt is None or _OPTION.match(nxt)):
                argv.append(name)
                continue
            if nxt is None:
                raise BadLine(
                    getattr(action, "needs", None)
                    or f"{name} needs a value ({action.metavar or action.dest.upper()})"
                )
            value = nxt
            i += 1
        long = next((o for o in action.option_strings if o.startswith("--")), name)
        argv.append(f"{long}={value}")
    runs: list[list[int]] = []
    for k in expr_at:
        if runs and runs[-1][-1] == k - 1:
            runs[-1].append(k)
        else:
            runs.append([k])
    expr = " ".join(line[spans[r[0]][0] : spans[r[-1]][1]] for r in runs).strip()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        raise BadLine(str(exc)) from None
    return args, expr, problem


def _usage(parser: argparse.ArgumentParser) -> str:
    text = parser.format_usage().strip()
    text = re.sub(r"\A(::\s*)?%?", "", text).strip()
    return "usage: %" + " ".join(text.split())


def _help(parser: argparse.ArgumentParser) -> str:
    text = parser.format_help()
    return re.sub(r"\A::\s*\n\s*", "usage: ", text).rstrip()


def _number(text: str) -> int:
    try:
        value = int(text.lstrip("#"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative; give a number ≥ 0")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"PORT must be a number from 0 to 65535, got {text!r}")
    return int(text)


def _needs(parser: argparse.ArgumentParser, **needs: str) -> None:
    """What to say when an option that takes a value is given none."""
    for option, text in needs.items():
        _actions(parser)["--" + option].needs = text  # type: ignore[attr-defined]


def _prog(func: Any) -> argparse.ArgumentParser:
    return func.parser


def _read(func: Any, line: str, magic: str) -> tuple[argparse.Namespace, str, str | None] | Message:
    """Parse ``line`` for the magic ``func``; a Message (one line + usage) when it is bad."""
    parser = _prog(func)
    try:
        args, expr, problem = parse_line(parser, line)
    except BadLine as exc:
        text = re.sub(r"\Aargument (\S+): ", r"\1: ", str(exc))
        return Message(f"{magic}: {text}; {_usage(parser)}", level="error")
    if getattr(args, "help", False):
        return Message(_help(parser))
    return args, expr, problem


def _no_expr(sub: str, func: Any, expr: str, problem: str | None, line: str) -> Message | None:
    if not expr:
        return None
    if problem:
        return Message(f"%jaxinspect: could not parse {line!r}: {problem}", level="error")
    return Message(f"%jaxinspect {sub}: unexpected {expr!r}; {_usage(func.parser)}", level="error")


def _evaluate(magic: str, expr: str, ns: dict) -> Any:
    """``expr`` evaluated in the user's namespace, or a Message naming what it raised."""
    try:
        code = compile(expr, f"<{magic}>", "eval")
        return False, eval(code, ns)  # noqa: S307 - the user's own expression, in their namespace
    except SyntaxError as exc:
        return True, Message(f"{magic}: `{_clip(expr)}` is not a Python expression ({exc.msg})", level="error")
    except (RecursionError, MemoryError) as exc:
        return True, Message(
            f"{magic}: `{_clip(expr)}` is too deeply nested for Python's parser "
            f"({type(exc).__name__}); assign parts of it to variables first",
            level="error",
        )
    except Exception as exc:  # noqa: BLE001
        return True, Message(f"{magic}: evaluating `{_clip(expr)}` raised {type(exc).__name__}: {exc}", level="error")


def _as_magic(result: Any, api_name: str, magic: str) -> Any:
    """A Message from the Python API, reworded to speak as the magic the user typed."""
    if isinstance(result, Message) and result.text.startswith(api_name + ":"):
        return Message(magic + result.text[len(api_name) :], level=result.level)
    return result


def _clip(text: str, n: int = 200) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _user_ns() -> dict:
    from IPython import get_ipython

    shell = get_ipython()
    return shell.user_ns if shell is not None else {}


# -- %jaxinspect subcommands -------------------------------------------------------------------------
# Each is declared with magic_arguments: its parser gives the usage in errors and the help.


@magic_arguments("jaxinspect status")
@argument("-h", "--help", action="store_true", help="this help")
def _status(args: argparse.Namespace, expr: str, problem: str | None, line: str) -> Any:
    """Versions, backend, devices, what jaxinspect records (= jaxinspect.status())."""
    return _no_expr("status", _status, expr, problem, line) or SESSION.status()


@magic_arguments("jaxinspect compiles")
@argument("-h", "--help", action="store_true", help="this help")
@argument("--all", action="store_true", help="include JAX-internal eager compiles")
@argument("--diff", metavar="ID", type=_number,
          help="the jaxpr diff of recompile #ID against the closest previous call (= jaxinspect.compile_diff(ID))")
def _compiles(args: argparse.Namespace, expr: str, problem: str | None, line: str) -> Any:
    """Every compile since %load_ext, per function, with reasons and alerts
    (= jaxinspect.compile_log(all=...))."""
    bad = _no_expr("compiles", _compiles, expr, problem, line)
    if bad is not None:
        return bad
    if args.diff is not None:
        out = _as_magic(SESSION.compile_diff(args.diff), "compile_diff", "%jaxinspect compiles --diff")
        return _as_magic(out, "compile diff", "%jaxinspect compiles --diff")
    return SESSION.compile_log(all=args.all)


@magic_arguments("jaxinspect buffers")
@argument("-h", "--help", action="store_true", help="this help")
@argument("--limit", metavar="N", type=_number, default=50, help="list at most N arrays (default 50)")
@argument("--all", action="store_true", help="list every array")
@argument("--no-owners", action="store_true", help="skip the walk of your namespace for holders")
@argument("--profile", action="store_true", help="add jax.profiler.device_memory_profile(), parsed")
def _buffers(args: argparse.Namespace, expr: str, problem: str | None, line: str) -> Any:
    """Every live device array: bytes per device, which variable holds it, where it was created,
    growth alerts (= jaxinspect.buffers())."""
    bad = _no_expr("buffers", _buffers, expr, problem, line)
    if bad is not None:
        return bad
    return SESSION.buffers(limit=None if args.all else args.limit, owners=not args.no_owners, profile=args.profile)


@magic_arguments("jaxinspect keys")
@argument("-h", "--help", action="store_true", help="this help")
@argument("--warn", dest="mode", action="store_const", const="warn", help="a key used twice warns (default)")
@argument("--error", dest="mode", action="store_const", const="error", help="a key used twice raises KeyReuseError")
@argument("--ignore", dest="mode", action="store_const", const="ignore", help="only record reuses")
@argument("--clear", action="store_true", help="forget what was recorded")
@argument("--jit-calls", dest="jit_calls", action="store_const", const=True,
          help="also check every call of a compiled function that takes a key (the same key passed "
          "to train_step on every call); those calls take JAX's slower Python dispatch path")
@argument("--no-jit-calls", dest="jit_calls", action="store_const", const=False,
          help="stop checking calls of compiled functions")
@argument("action", nargs="?", choices=("on", "off"), metavar="on|off",
          help="on: record every key created, split and consumed; off: stop")
def _keys(args: argparse.Namespace, expr: str, problem: str | None, line: str) -> Any:
    """PRNG keys: the lineage tree and reuses (= jaxinspect.keys()); `on` tracks every key and
    reports a key used twice, eager and read from each jitted function (= jaxinspect.track_keys())."""
    if expr:
        try:
            (action,) = expr.split()
            args.action = _prog(_keys).parse_args([action]).action
        except (ValueError, UsageError):
            return Message(
                f"%jaxinspect keys: unexpected {expr!r} (on or off); {_usage(_prog(_keys))}", level="error"
            )
    tracker = keyslib.tracker()
    if args.action == "off":
        tracker.stop()
        if args.clear:
            tracker.clear()
        return Message("key tracking is off (jax.random is unwrapped); %jaxinspect keys shows what was recorded")
    if args.action == "on" or ((args.mode is not None or args.jit_calls is not None) and tracker.tracking):
        try:
            import jax  # noqa: F401, PLC0415
        except ImportError:
            return Message("%jaxinspect keys: jax is not installed in this kernel (pip install jax)", level="error")
        if args.clear:
            tracker.clear()
        started = track_keys(on_reuse=args.mode or tracker.on_reuse, jit_calls=args.jit_calls)
        if getattr(started, "error", None):
            return Message(f"%jaxinspect keys: {started.error}", level="error")
        calls = (
            "every call of a compiled function that takes a key is checked too (slower dispatch)"
            if getattr(tracker, "jit_calls", False)
            else "calls of already-compiled functions are not checked (--jit-calls checks them)"
        )
        return Message(
            f"key tracking is on: every jax.random key created, split and consumed is recorded "
            f"and a key used twice {'raises KeyReuseError' if tracker.on_reuse == 'error' else 'warns'}; "
            f"jitted functions traced from now on are checked statically; {calls}. The sidebar's "
            "Keys tab follows it; %jaxinspect keys off stops."
        )
    if args.mode is not None or args.jit_calls is not None:
        flag = f"--{args.mode}" if args.mode is not None else ("--jit-calls" if args.jit_calls else "--no-jit-calls")
        return Message(f"%jaxinspect keys: {flag} goes with `on`; {_usage(_prog(_keys))}", level="error")
    return SESSION.keys(clear=args.clear)


@magic_arguments("jaxinspect monitor")
@argument("-h", "--help", action="store_true", help="this help")
@argument("--display", dest="mode", action="store_const", const="display",
          help="HTML refreshed in place (front ends without widgets)")
@argument("--text", dest="mode", action="store_const", const="text", help="a text summary (print(m))")
@argument("--widget", dest="mode", action="store_const", const="widget",
          help="the live widget (it draws the curves), with a text/HTML snapshot beside it")
@argument("--no-plot", action="store_true", help="no curves in the widget (rows and sparklines only)")
@argument("--off", action="store_true", help="close the open monitor")
def _monitor(args: argparse.Namespace, expr: str, problem: str | None, line: str) -> Any:
    """A live view in this cell (logged scalars, params, memory, compiles, keys) while the cells
    below run (= m = jaxinspect.monitor(); m.log(step, loss=loss) in the loop)."""
    bad = _no_expr("monitor", _monitor, expr, problem, line)
    if bad is not None:
        return bad
    if args.off:
        n = SESSION.close_monitors()
        return Message(f"closed {n} monitor{'s' if n != 1 else ''}")
    return _as_magic(SESSION.monitor(mode=args.mode or "auto", plot=False if args.no_plot else None),
                     "jaxinspect.monitor", "%jaxinspect monitor")


@magic_arguments("jaxinspect processes")
@argument("-h", "--help", action="store_true", help="this help")
@argument("--listen", metavar="PORT", nargs="?", const=0, type=_port,
          help="open this kernel's collector on 127.0.0.1:PORT (any free port without PORT)")
@argument("--stop", action="store_true", help="close the collector")
@argument("--stacks", action="store_true",
          help="every process's main-thread stack now (asked for; works while it waits in a collective)")
def _processes(args: argparse.Namespace, expr: str, problem: str | None, line: str) -> Any:
    """A multi-process job side by side: --listen opens this kernel's collector (loopback) and
    prints the env each process needs; then in each process: import jaxinspect;
    jaxinspect.connect() (= c = jaxinspect.collect_processes(); c.env)."""
    bad = _no_expr("processes", _processes, expr, problem, line)
    if bad is not None:
        return bad
    if args.stop and args.listen is not None:
        return Message(f"%jaxinspect processes: --listen or --stop, not both; {_usage(_prog(_processes))}",
                       level="error")
    if args.stop:
        c = processes.current_collector()
        if c is None:
            return Message("no collector is open")
        c.close()
        return Message(f"closed the collector at {c.address}")
    if args.listen is not None:
        try:
            c = SESSION.collect_processes(port=args.listen)
        except OSError as exc:
            return Message(f"%jaxinspect processes: cannot listen on 127.0.0.1:{args.listen} ({exc}); "
                           "pick another port or leave it out for any free one", level="error")
        if isinstance(c, Message):
            return c
        env = " ".join(f"{k}={v}" for k, v in c.env.items())
        return Message(
            f"collecting on {c.address}. Start each process with\n  {env}\nin its environment "
            "and call jaxinspect.connect() in it (after jax.distributed.initialize()). "
            "%jaxinspect processes shows them; so does the sidebar's Processes tab."
        )
    c = processes.current_collector()
    if c is None:
        return Message("no collector is open: jaxinspect.collect_processes(rc) listens to an "
                       "ipyparallel cluster's engines, %jaxinspect processes --listen (or "
                       "c = jaxinspect.collect_processes()) to processes started elsewhere")
    return c.stacks() if args.stacks else c


@magic_arguments("jaxinspect help")
@argument("subcommand", nargs="?", help="the subcommand to explain in full")
def _help_sub(args: argparse.Namespace, expr: str, problem: str | None, line: str) -> Any:
    """This text; %jaxinspect help SUBCOMMAND (or %jaxinspect SUBCOMMAND --help): its options."""
    if expr:
        handler = SUBCOMMANDS.get(expr.strip())
        if handler is None:
            return _unknown(expr.strip())
        return Message(_help(_prog(handler)))
    return Message(HELP)


@magic_arguments("jaxinspect sharding")
@argument("-h", "--help", action="store_true", help="this help")
@argument("expr", nargs="?", metavar="EXPR", help="an expression giving a jax.Array")
def _sharding(args: argparse.Namespace, expr: str, problem: str | None, line: str) -> Any:
    """Which block of an array lives on which device (= jaxinspect.sharding(x))."""
    if not expr:
        return Message(f"%jaxinspect sharding: which array?; {_usage(_prog(_sharding))}", level="error")
    failed, value = _evaluate("%jaxinspect sharding", expr, _user_ns())
    if failed:
        return value
    view = _as_magic(SESSION.sharding(value), "jaxinspect.sharding", "%jaxinspect sharding")
    if isinstance(view, Message):
        return view
    view.title = expr
    return view


@magic_arguments("jaxinspect params")
@argument("-h", "--help", action="store_true", help="this help")
@argument("--stats", action="store_true", help="add mean/std/min/max/norm/zeros/NaN/Inf per leaf")
@argument("expr", nargs="?", metavar="EXPR",
          help="a params dict, TrainState, NNX module/state/optimizer or pytree")
def _params(args: argparse.Namespace, expr: str, problem: str | None, line: str) -> Any:
    """The parameter tree: kinds, shapes, totals per subtree (= jaxinspect.params(x))."""
    if not expr:
        return Message(f"%jaxinspect params: which tree?; {_usage(_prog(_params))}", level="error")
    failed, value = _evaluate("%jaxinspect params", expr, _user_ns())
    if failed:
        return value
    return _as_magic(SESSION.params(value, stats=args.stats, title=expr), "jaxinspect.params", "%jaxinspect params")


@magic_arguments("jaxinspect watch")
@argument("-h", "--help", action="store_true", help="this help")
@argument("--off", action="store_true", help="stop watching EXPR (everything without EXPR)")
@argument("expr", nargs="?", metavar="EXPR", help="e.g. state.params")
def _watch(args: argparse.Namespace, expr: str, problem: str | None, line: str) -> Any:
    """Sample EXPR while cells run: norms, update ratios, NaN/Inf alerts in the Params tab
    (in a loop: jaxinspect.watch("params", params, step=i))."""
    if args.off:
        SESSION.unwatch(expr or None)
        return Message(f"stopped watching {expr or 'everything'}")
    inspector = SESSION.inspector
    if not expr:
        names = inspector.watcher.names if inspector else []
        return Message(
            f"{_usage(_prog(_watch))}\nwatched now: {', '.join(names) or 'nothing'}",
            level="error" if not names else "info",
        )
    ns = _user_ns()
    failed, value = _evaluate("%jaxinspect watch", expr, ns)
    if failed:
        return value
    check = _as_magic(SESSION.params(value, title=expr), "jaxinspect.params", "%jaxinspect watch")
    if isinstance(check, Message):
        return check
    code = compile(expr, "<%jaxinspect watch>", "eval")
    SESSION.watch_expression(expr, lambda: eval(code, ns))  # noqa: S307
    return Message(
        f"watching {expr} ({len(check.leaves)} leaves): the sidebar's Params tab samples it while "
        "cells run — norms, update ratios, NaN/Inf alerts. %jaxinspect watch --off stops."
    )


@magic_arguments("jaxinspect report")
@argument("-h", "--help", action="store_true", help="this help")
@argument("--trace", metavar="FILE",
          help="also write the compile timeline as a Chrome/Perfetto trace (Trace Event Format JSON: "
          "open it in ui.perfetto.dev or chrome://tracing), e.g. --trace run.trace.json")
@argument("file", nargs="?", metavar="FILE",
          help="the HTML file to write, e.g. run.html (a name ending in .txt: the plain-text twin)")
def _report(args: argparse.Namespace, expr: str, problem: str | None, line: str) -> Any:
    """Write the session so far as ONE self-contained HTML file to share (a bug report, a PR):
    environment, compiles with reasons and a timeline, memory over time with the top holders, key
    reuses with lineage, watched parameters with their NaN alerts; opens from disk, no network,
    light and dark. --trace FILE also writes the compile timeline as a Trace Event Format JSON for
    ui.perfetto.dev or chrome://tracing (= jaxinspect.report(FILE, trace=...))."""
    if problem:
        return Message(f"%jaxinspect report: could not read {line!r}: {problem}", level="error")
    if not expr and args.trace is None:
        return Message(f"%jaxinspect report: which file? e.g. %jaxinspect report run.html; "
                       f"{_usage(_prog(_report))}", level="error")  # fmt: skip
    path = _unquote(expr) if expr else None
    trace = _unquote(args.trace) if args.trace is not None else None
    return _as_magic(SESSION.report(path, trace=trace, speaker="%jaxinspect report", namespace=_user_ns()),
                     "jaxinspect.report", "%jaxinspect report")


def _unquote(text: str) -> str:
    """A path as typed: 'my run.html' and "my run.html" lose their quotes."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
        return value if isinstance(value, str) else text
    return text


SUBCOMMANDS: dict[str, Callable[..., Any]] = {
    "status": _status,
    "compiles": _compiles,
    "buffers": _buffers,
    "keys": _keys,
    "monitor": _monitor,
    "processes": _processes,
    "help": _help_sub,
    "sharding": _sharding,
    "params": _params,
    "watch": _watch,
    "report": _report,
}


def _unknown(sub: str) -> Message:
    return Message(
        f"%jaxinspect: unknown subcommand {sub!r}. Available: {', '.join(SUBCOMMANDS)}. "
        "Run %jaxinspect help for details.",
        level="error",
    )


# -- the magics ------------------------------------------------------------------------------------


@magics_class
class JaxInspectMagics(Magics):
    """The ``%jaxinspect``, ``%jaxpr`` and ``%jit_profile`` magics."""

    @magic_arguments()
    @argument("-h", "--help", action="store_true", help="this help")
    @argument("subcommand", nargs="?", help="status, compiles, buffers, keys, monitor, processes, "
              "help, sharding, params, watch, report")
    @line_magic
    def jaxinspect(self, line: str) -> Any:
        """JAX introspection for this kernel (the help is generated below)."""
        return _contained("%jaxinspect", lambda: _dispatch(line))

    @magic_arguments()
    @argument("-h", "--help", action="store_true", help="this help")
    @argument("-o", action="store_true", help="return the profile object (.events, .functions, .alerts, .to_json())")
    @argument("-q", action="store_true", help="show nothing")
    @argument("--all", action="store_true", help="include JAX-internal compiles (hidden by default)")
    @argument("statement", nargs="?", metavar="STATEMENT", help="the code to run (a line; %%%%jit_profile: the cell)")
    @line_cell_magic
    def jit_profile(self, line: str, cell: str | None = None) -> Any:
        """Run STATEMENT (or the cell) and report each trace/lower/compile inside it, per function,
        with reasons and time (= `with jaxinspect.profile(all=...) as p: STATEMENT`)."""
        return _contained("%jit_profile", lambda: self._jit_profile(line, cell))

    def _jit_profile(self, line: str, cell: str | None) -> Any:
        read = _read(JaxInspectMagics.jit_profile, line, "%jit_profile")
        if isinstance(read, Message):
            return read
        args, rest, _problem = read
        usage = _usage(_prog(JaxInspectMagics.jit_profile))
        if cell is not None and rest:
            return Message(f"%%jit_profile: unexpected {rest!r} on the magic's line (the code goes in the cell); {usage}",
                           level="error")
        code = cell if cell is not None else rest
        if not code.strip():
            return Message(f"%jit_profile: nothing to run; {usage}", level="error")
        try:
            ast.parse(code)
        except (RecursionError, MemoryError) as exc:
            return Message(
                f"%jit_profile: the code is too deeply nested for Python's parser ({type(exc).__name__}); "
                "assign parts of it to variables first",
                level="error",
            )
        except SyntaxError:
            pass  # run_cell shows it, as IPython would
        prof = profile(all=args.all)
        with prof:
            self.shell.run_cell(code, store_history=False, silent=False)
        if not args.q:
            from IPython.display import display

            display(prof)  # its HTML draws the timeline as SVG: no plotly figure (5 MB of JS once saved)
        return prof if args.o else None

    @magic_arguments()
    @argument("-h", "--help", action="store_true", help="this help")
    @argument("--source", action="store_true", help="show each equation's source line")
    @argument("--stablehlo", action="store_true", help="the lowered program (StableHLO)")
    @argument("--hlo", action="store_true", help="the compiled, optimized HLO")
    @argument("--cost", action="store_true", help="flops, bytes accessed, memory analysis")
    @argument("--graph", action="store_true", help="the dataflow graph")
    @argument("--text", action="store_true", help="plain text only")
    @argument("--diff", metavar="CALL2", help="compare CALL (before) with CALL2 (after), equation by equation")
    @argument("-o", action="store_true", help="return the view object (.jaxpr, .stats, .to_json(), .diff(), .text())")
    @argument("call", nargs="?", metavar="CALL",
              help="e.g. f(x, y) or jax.grad(loss)(params, batch); %%%%jaxpr: setup lines, then the call")
    @line_cell_magic
    def jaxpr(self, line: str, cell: str | None = None) -> Any:
        """The jaxpr of CALL as jit traces it, without running it: the arguments are evaluated, the
        call is traced (= jaxinspect.jaxpr(fn, *args, **kwargs))."""
        return _contained("%jaxpr", lambda: self._jaxpr(line, cell))

    def _jaxpr(self, line: str, cell: str | None) -> Any:
        from IPython.display import display

        read = _read(JaxInspectMagics.jaxpr, line, "%jaxpr")
        if isinstance(read, Message):
            return read
        args, rest, _problem = read
        usage = _usage(_prog(JaxInspectMagics.jaxpr))
        ns = self.shell.user_ns
        if cell is not None:
            if rest:
                return Message(f"%%jaxpr: unexpected {rest!r} on the magic's line (the call is the cell's last line); {usage}",
                               level="error")
            try:
                module = ast.parse(cell)
            except SyntaxError as exc:
                return Message(f"%%jaxpr: syntax error in the cell, line {exc.lineno}: {exc.msg}", level="error")
            if not module.body or not isinstance(module.body[-1], ast.Expr):
                return Message(
                    f"%%jaxpr: the last line of the cell must be the call to trace, e.g. `f(x, y)`; {usage}",
                    level="error",
                )
            setup = ast.Module(body=module.body[:-1], type_ignores=[])
            try:
                exec(compile(setup, "<%%jaxpr setup>", "exec"), ns)  # noqa: S102 - the user's own cell
            except Exception as exc:  # noqa: BLE001
                return Message(f"%%jaxpr: the setup lines raised {type(exc).__name__}: {exc}", level="error")
            rest = ast.get_source_segment(cell, module.body[-1]) or ast.unparse(module.body[-1])
        if not rest.strip():
            return Message(_help(_prog(JaxInspectMagics.jaxpr)))
        opts = vars(args)
        traced = _trace_expression(rest, ns, opts)
        if isinstance(traced, Message):
            return traced
        view = traced
        if args.diff:
            other = _trace_expression(args.diff, ns, opts)
            if isinstance(other, Message):
                return other
            view = traced.diff(other)
        if args.text:
            text = Message(view.text())
            if args.o:
                display(text)
                return view
            return text
        if args.o:
            return view
        display(view)
        return None


def _contained(magic: str, run: Callable[[], Any]) -> Any:
    """The last safety net of a magic: a failure of jaxinspect itself is one line (and recorded,
    so %jaxinspect status counts it), never a traceback; errors the user opted into pass."""
    try:
        return run()
    except errors.UserFacingError:
        raise
    except (RecursionError, MemoryError) as exc:
        return Message(
            f"{magic}: the expression is too deeply nested ({type(exc).__name__}); "
            "assign parts of it to variables first",
            level="error",
        )
    except Exception as exc:  # noqa: BLE001 - containment is the point
        errors.record(f"magic {magic}", exc)
        return Message(
            f"{magic}: jaxinspect failed here ({type(exc).__name__}: {_clip(str(exc))}); this is a "
            "bug in jaxinspect, not in your code — it is recorded (%jaxinspect status counts it)",
            level="error",
        )


def _dispatch(line: str) -> Any:
    spans, problem = split_line(line)
    if not spans:
        return Message(HELP)
    s, e = spans[0]
    sub = line[s:e]
    if sub.startswith("-"):
        read = _read(JaxInspectMagics.jaxinspect, line, "%jaxinspect")
        return read if isinstance(read, Message) and read.level == "error" else Message(HELP)
    handler = SUBCOMMANDS.get(sub)
    if handler is None:
        if problem and len(spans) == 1:
            return Message(f"%jaxinspect: could not parse {line!r}: {problem}", level="error")
        return _unknown(sub)
    rest = line[e:]
    read = _read(handler, rest, f"%jaxinspect {sub}")
    if isinstance(read, Message):
        return read
    args, expr, problem = read
    return handler(args, expr, problem, line)


def _trace_expression(text: str, ns: dict, opts: dict[str, Any]) -> Any:
    """Evaluate the callee and arguments of the call ``text`` in the user's namespace (the call
    itself is traced, never run) and return a ``JaxprView`` or a ``Message``."""
    text = text.strip()
    try:
        node = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        return Message(
            f"%jaxpr: `{_clip(text)}` is not valid Python ({exc.msg}). Give a call, e.g. %jaxpr f(x, y).",
            level="error",
        )
    call = node.body
    if not isinstance(call, ast.Call):
        return Message(
            f"%jaxpr: `{_clip(text)}` is not a call. Give the call to trace, e.g. %jaxpr {_clip(text, 60)}(x) "
            "(arguments are evaluated, the call is traced, not run).",
            level="error",
        )

    def value(expr: ast.expr) -> Any:
        code = compile(ast.Expression(expr), "<%jaxpr>", "eval")
        return eval(code, ns)  # noqa: S307 - the user's own expression, in their namespace

    part = call.func
    try:
        fn = value(call.func)
        args: list[Any] = []
        for arg in call.args:
            part = arg
            if isinstance(arg, ast.Starred):
                args.extend(value(arg.value))
            else:
                args.append(value(arg))
        kwargs: dict[str, Any] = {}
        for kw in call.keywords:
            part = kw.value
            if kw.arg is None:
                kwargs.update(value(kw.value))
            else:
                kwargs[kw.arg] = value(kw.value)
    except Exception as exc:  # noqa: BLE001
        what = _segment(text, part)
        return Message(f"%jaxpr: evaluating `{what}` raised {type(exc).__name__}: {exc}", level="error")
    sections = tuple(s for s in ("stablehlo", "hlo", "cost", "graph") if opts.get(s))
    if not sections or opts.get("source"):
        sections = ("jaxpr", *sections)
    return SESSION.trace_view(
        fn,
        tuple(args),
        kwargs,
        label=_segment(text, call.func),
        title=text,
        sections=sections,
        source=bool(opts.get("source")),
    )


def _segment(text: str, node: ast.AST) -> str:
    """The source of ``node`` as typed (ast.unparse recurses: a deep expression would overflow)."""
    return _clip(ast.get_source_segment(text, node) or "<expression>")


def _jaxinspect_help() -> str:
    """The %jaxinspect help, generated from each subcommand's parser."""
    lines = ["%jaxinspect SUBCOMMAND — JAX introspection for this kernel", ""]
    for handler in SUBCOMMANDS.values():
        parser = _prog(handler)
        lines.append("  " + _usage(parser).removeprefix("usage: "))
        desc = " ".join((parser.description or "").split())
        lines.extend("      " + part for part in _wrap(desc))
    for magic in (JaxInspectMagics.jaxpr, JaxInspectMagics.jit_profile):
        parser = _prog(magic)
        lines.append("")
        lines.append("  " + _usage(parser).removeprefix("usage: "))
        lines.extend("      " + part for part in _wrap(" ".join((parser.description or "").split())))
    lines += [
        "",
        "Options may stand before or after the expression; %jaxinspect SUBCOMMAND --help, %jaxpr --help",
        "and %jit_profile --help list them. The sidebar (command palette: \"Show jaxinspect\") follows",
        "the active notebook and updates while cells run. %unload_ext jaxinspect removes every hook.",
    ]
    return "\n".join(lines)


def _wrap(text: str, width: int = 92) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) if text else []


HELP = _jaxinspect_help()
JaxInspectMagics.jaxinspect.__doc__ = HELP + "\n\n" + _help(_prog(JaxInspectMagics.jaxinspect))
_needs(_prog(JaxInspectMagics.jaxpr), diff="--diff needs a call expression, e.g. --diff f(x16)")
_needs(_prog(_compiles), diff="--diff needs one event id (the # column of %jaxinspect compiles)")
_needs(_prog(_buffers), limit="--limit needs a number, e.g. --limit 20")
