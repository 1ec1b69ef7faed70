"""Magics: ``%jaxinspect SUBCOMMAND`` and ``%jit_profile``; thin sugar over the Python API."""

from __future__ import annotations

import ast
import shlex
from collections.abc import Callable
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class

from .. import api
from .display import Message

HELP = """\
%jaxinspect SUBCOMMAND — JAX introspection for this kernel

  %jaxinspect status           versions, backend, devices, what jaxinspect records
                               (= jaxinspect.status())
  %jaxinspect compiles [--all] every compile since %load_ext, per function, with reasons and
                               alerts (= jaxinspect.compile_log(all=...))
  %jaxinspect compiles --diff ID   the jaxpr diff of recompile #ID against the closest
                               previous call (= jaxinspect.compile_diff(ID))
  %jaxinspect buffers [--limit N | --all] [--no-owners] [--profile]
                               every live device array: bytes per device, which variable holds
                               it, where it was created, growth alerts (= jaxinspect.buffers());
                               --profile adds jax.profiler.device_memory_profile(), parsed
  %jaxinspect sharding EXPR    which block of an array lives on which device
                               (= jaxinspect.sharding(x))
  %jaxinspect params [--stats] EXPR
                               the parameter tree: kinds, shapes, totals per subtree; --stats adds
                               mean/std/min/max/norm/zeros/NaN/Inf per leaf (= jaxinspect.params(x))
  %jaxinspect watch EXPR       sample EXPR (e.g. state.params) while cells run: norms, update
                               ratios, NaN/Inf alerts in the Params tab; --off stops
                               (in a loop: jaxinspect.watch("params", params, step=i))
  %jaxinspect keys [on|off] [--warn|--error|--ignore] [--clear]
                               PRNG keys: `on` records every key created, split and consumed
                               and reports a key used twice (eager, and read from each jitted
                               function); alone: the lineage tree and reuses (= jaxinspect.keys(),
                               jaxinspect.track_keys()); --error raises on reuse instead of warning
  %jaxinspect monitor [--display|--text] [--no-plot] [--off]
                               a live view in this cell (logged scalars, params, memory, compiles,
                               keys) while the cells below run (= m = jaxinspect.monitor();
                               m.log(step, loss=loss) in the loop)
  %jaxinspect processes [--listen [PORT]] [--stop]
                               a multi-process job side by side: --listen opens this kernel's
                               collector (loopback) and prints the env each process needs; then
                               in each process: import jaxinspect; jaxinspect.connect()
                               (= c = jaxinspect.collect_processes(); c.env)
  %jaxinspect help             this text

  %jaxpr [--source] [--stablehlo] [--hlo] [--cost] [--graph] [--text] [--diff CALL2] [-o] CALL
                               the jaxpr of CALL as jit traces it, without running it
                               (= jaxinspect.jaxpr(fn, *args, **kwargs)); %jaxpr alone: options

  %jit_profile [-o] [-q] [--all] STATEMENT   run STATEMENT, report each trace/lower/compile
  %%jit_profile [-o] [-q] [--all]            ... for the whole cell
                               (= `with jaxinspect.profile(all=...) as p: ...`)

The sidebar (command palette: "Show jaxinspect") follows the active notebook and updates while
cells run. %unload_ext jaxinspect removes every hook jaxinspect added."""

JAXPR_USAGE = """\
usage: %jaxpr [options] CALL          e.g. %jaxpr f(x, y)   %jaxpr jax.grad(loss)(params, batch)
       %%jaxpr [options]              setup lines, then the call expression as the last line
options:
  --source        show each equation's source line        --text    plain text only
  --stablehlo     the lowered program (StableHLO)          --hlo     compiled, optimized HLO
  --cost          flops, bytes accessed, memory analysis   --graph   dataflow graph
  --diff CALL2    compare CALL (before) with CALL2 (after), equation by equation
  -o              return the view object (.jaxpr, .stats, .to_json(), .diff(), .text())
(= jaxinspect.jaxpr(fn, *args, **kwargs))"""

JIT_PROFILE_USAGE = "usage: %jit_profile [-o] [-q] [--all] STATEMENT   (or %%jit_profile [-o] [-q] [--all] on a cell)"


@magics_class
class JaxInspectMagics(Magics):
    """The ``%jaxinspect`` and ``%jit_profile`` magics."""

    @line_magic
    def jaxinspect(self, line: str) -> Any:
        """%jaxinspect SUBCOMMAND — run ``%jaxinspect help`` for the list."""
        head, _, raw = line.strip().partition(" ")
        if head in RAW_SUBCOMMANDS:  # takes a Python expression: no shell-style quote removal
            return RAW_SUBCOMMANDS[head](raw)
        try:
            words = shlex.split(line)
        except ValueError as exc:
            return Message(f"%jaxinspect: could not parse {line!r}: {exc}", level="error")
        if not words:
            return Message(HELP)
        sub, rest = words[0], words[1:]
        handler = SUBCOMMANDS.get(sub)
        if handler is None:
            known = ", ".join([*SUBCOMMANDS, *RAW_SUBCOMMANDS])
            return Message(
                f"%jaxinspect: unknown subcommand {sub!r}. Available: {known}. "
                "Run %jaxinspect help for details.",
                level="error",
            )
        return handler(rest)

    @line_cell_magic
    def jit_profile(self, line: str, cell: str | None = None) -> Any:
        """%jit_profile [-o] [-q] [--all] STATEMENT — run it and report every compile inside.

        Same as ``with jaxinspect.profile(all=...) as p: STATEMENT`` then displaying ``p``.
        -o returns the profile object (``.events``, ``.functions``, ``.alerts``, ``.to_json()``),
        -q shows nothing, --all includes JAX-internal compiles (hidden by default).
        """
        flags, rest = _split_flags(line)
        if flags is None:
            return Message(f"%jit_profile: {rest}\n{JIT_PROFILE_USAGE}", level="error")
        code = cell if cell is not None else rest
        if not code.strip():
            return Message(f"%jit_profile: nothing to run.\n{JIT_PROFILE_USAGE}", level="error")
        prof = api.profile(all="all" in flags)
        with prof:
            self.shell.run_cell(code, store_history=False, silent=False)
        if "q" not in flags:
            from IPython.display import display

            display(prof)
            if prof.events:
                try:
                    display(prof.timeline())
                except ImportError:
                    pass
        return prof if "o" in flags else None


    @line_cell_magic
    def jaxpr(self, line: str, cell: str | None = None) -> Any:
        """%jaxpr [options] CALL — the jaxpr of CALL as jit would trace it, without running it.

        Run ``%jaxpr`` alone for the options. Same as ``jaxinspect.jaxpr(fn, *args, **kwargs)``.
        """
        from IPython.display import display

        opts, rest = _jaxpr_options(line)
        if opts is None:
            return Message(f"%jaxpr: {rest}\n{JAXPR_USAGE}", level="error")
        ns = self.shell.user_ns
        if cell is not None:
            try:
                module = ast.parse(cell)
            except SyntaxError as exc:
                return Message(f"%%jaxpr: syntax error in the cell, line {exc.lineno}: {exc.msg}", level="error")
            if not module.body or not isinstance(module.body[-1], ast.Expr):
                return Message(
                    "%%jaxpr: the last line of the cell must be the call to trace, e.g. `f(x, y)`.\n"
                    + JAXPR_USAGE,
                    level="error",
                )
            setup = ast.Module(body=module.body[:-1], type_ignores=[])
            try:
                exec(compile(setup, "<%%jaxpr setup>", "exec"), ns)  # noqa: S102 - the user's own cell
            except Exception as exc:  # noqa: BLE001
                return Message(f"%%jaxpr: the setup lines raised {type(exc).__name__}: {exc}", level="error")
            rest = ast.get_source_segment(cell, module.body[-1]) or ast.unparse(module.body[-1])
        if not rest.strip():
            return Message(JAXPR_USAGE)
        traced = _trace_expression(rest, ns, opts)
        if isinstance(traced, Message):
            return traced
        view = traced
        if opts.get("diff"):
            other = _trace_expression(opts["diff"], ns, opts)
            if isinstance(other, Message):
                return other
            view = traced.diff(other)
        if opts.get("text"):
            text = Message(view.text())
            if "o" in opts:
                display(text)
                return view
            return text
        if "o" in opts:
            return view
        display(view)
        return None


_JAXPR_FLAGS = {
    "--source": "source",
    "--stablehlo": "stablehlo",
    "--hlo": "hlo",
    "--cost": "cost",
    "--graph": "graph",
    "--text": "text",
    "-o": "o",
}


def _first_call(text: str) -> tuple[str, str] | None:
    """Split ``text`` into (the shortest leading call expression, the rest)."""
    positions = [i for i, ch in enumerate(text) if ch.isspace()] + [len(text)]
    for pos in positions:
        head = text[:pos]
        try:
            node = ast.parse(head.strip(), mode="eval")
        except SyntaxError:
            continue
        if isinstance(node.body, ast.Call):
            return head.strip(), text[pos:].strip()
    return None


def _jaxpr_options(line: str) -> tuple[dict[str, Any] | None, str]:
    """Leading options, then the call; ``--diff CALL2`` may also follow the call."""
    opts: dict[str, Any] = {}
    rest = line.strip()
    while rest.startswith("-"):
        word, _, tail = rest.partition(" ")
        tail = tail.strip()
        if word == "--":
            rest = tail
            break
        if word == "--diff":
            split = _first_call(tail)
            if split is None:
                return None, "--diff needs a call expression, e.g. --diff f(x16)"
            opts["diff"], rest = split
            continue
        if word not in _JAXPR_FLAGS:
            return None, f"unknown option {word!r}"
        opts[_JAXPR_FLAGS[word]] = True
        rest = tail
    if " --diff " in f" {rest} " and "diff" not in opts:
        split = _first_call(rest)
        if split is not None and split[1].startswith("--diff"):
            call2 = split[1][len("--diff") :].strip()
            if not call2:
                return None, "--diff needs a call expression, e.g. --diff f(x16)"
            opts["diff"], rest = call2, split[0]
    return opts, rest


def _trace_expression(text: str, ns: dict, opts: dict[str, Any]) -> Any:
    """Evaluate the callee and arguments of the call ``text`` in the user's namespace (the call
    itself is traced, never run) and return a ``JaxprView`` or a ``Message``."""
    text = text.strip()
    try:
        node = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        return Message(
            f"%jaxpr: `{text}` is not valid Python ({exc.msg}). Give a call, e.g. %jaxpr f(x, y).",
            level="error",
        )
    call = node.body
    if not isinstance(call, ast.Call):
        return Message(
            f"%jaxpr: `{text}` is not a call. Give the call to trace, e.g. %jaxpr {text}(x) "
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
        what = ast.unparse(part)
        return Message(
            f"%jaxpr: evaluating `{what}` raised {type(exc).__name__}: {exc}", level="error"
        )
    sections = tuple(s for s in ("stablehlo", "hlo", "cost", "graph") if opts.get(s))
    if not sections or opts.get("source"):
        sections = ("jaxpr", *sections)
    return api.trace_view(
        fn,
        tuple(args),
        kwargs,
        label=ast.unparse(call.func),
        title=text,
        sections=sections,
        source=bool(opts.get("source")),
    )


def _split_flags(line: str) -> tuple[set[str] | None, str]:
    """Leading -o / -q / --all flags, and the statement after them."""
    flags: set[str] = set()
    rest = line.lstrip()
    while rest.startswith("-"):
        word, _, tail = rest.partition(" ")
        if word == "--all":
            flags.add("all")
        elif word in ("--",):
            rest = tail.lstrip()
            break
        elif len(word) > 1 and word[1] != "-" and set(word[1:]) <= {"o", "q"}:
            flags |= set(word[1:])
        else:
            return None, f"unknown option {word!r}"
        rest = tail.lstrip()
    return flags, rest


COMPILES_USAGE = "usage: %jaxinspect compiles [--all] [--diff EVENT_ID]"


def _compiles(args: list[str]) -> Any:
    if args[:1] == ["--diff"]:
        if len(args) != 2 or not args[1].lstrip("#").isdigit():
            return Message(f"%jaxinspect compiles: --diff needs one event id (the # column).\n{COMPILES_USAGE}", level="error")
        return api.compile_diff(int(args[1].lstrip("#")))
    unknown = [a for a in args if a != "--all"]
    if unknown:
        return Message(
            f"%jaxinspect compiles: unknown option {unknown[0]!r}; {COMPILES_USAGE}",
            level="error",
        )
    return api.compile_log(all="--all" in args)


BUFFERS_USAGE = "usage: %jaxinspect buffers [--limit N | --all] [--no-owners] [--profile]"


def _buffers(args: list[str]) -> Any:
    limit: int | None = 50
    owners = True
    profile = False
    rest = list(args)
    while rest:
        word = rest.pop(0)
        if word == "--all":
            limit = None
        elif word == "--no-owners":
            owners = False
        elif word == "--profile":
            profile = True
        elif word == "--limit" and rest and rest[0].isdigit():
            limit = int(rest.pop(0))
        else:
            return Message(f"%jaxinspect buffers: unexpected {word!r}; {BUFFERS_USAGE}", level="error")
    return api.buffers(limit=limit, owners=owners, profile=profile)


def _sharding(raw: str) -> Any:
    from IPython import get_ipython

    expr = raw.strip()
    if not expr:
        return Message("usage: %jaxinspect sharding EXPR   (an expression giving a jax.Array)", level="error")
    shell = get_ipython()
    try:
        value = eval(expr, shell.user_ns if shell is not None else {})  # noqa: S307 - the user's own expression
    except Exception as exc:  # noqa: BLE001
        return Message(f"%jaxinspect sharding: evaluating `{expr}` raised {type(exc).__name__}: {exc}", level="error")
    view = api.sharding(value)
    if isinstance(view, Message):
        return view
    view.title = expr
    return view


KEYS_USAGE = "usage: %jaxinspect keys [on|off] [--warn|--error|--ignore] [--clear]"


def _keys(args: list[str]) -> Any:
    from ..collect import keyslib

    action, mode, clear = None, None, False
    for word in args:
        if word in ("on", "off") and action is None:
            action = word
        elif word in ("--warn", "--error", "--ignore"):
            mode = word[2:]
        elif word == "--clear":
            clear = True
        else:
            return Message(f"%jaxinspect keys: unexpected {word!r}; {KEYS_USAGE}", level="error")
    tracker = keyslib.tracker()
    if action == "off":
        tracker.stop()
        if clear:
            tracker.clear()
        return Message("key tracking is off (jax.random is unwrapped); %jaxinspect keys shows what was recorded")
    if action == "on" or (mode is not None and tracker.tracking):
        try:
            import jax  # noqa: F401, PLC0415
        except ImportError:
            return Message("%jaxinspect keys: jax is not installed in this kernel (pip install jax)", level="error")
        if clear:
            tracker.clear()
        api.track_keys(on_reuse=mode or tracker.on_reuse)
        return Message(
            f"key tracking is on: every jax.random key created, split and consumed is recorded "
            f"and a key used twice {'raises KeyReuseError' if tracker.on_reuse == 'error' else 'warns'}; "
            "jitted functions traced from now on are checked statically. The sidebar's Keys tab "
            "follows it; %jaxinspect keys off stops."
        )
    if mode is not None:
        return Message(f"%jaxinspect keys: {'--' + mode} goes with `on`; {KEYS_USAGE}", level="error")
    return api.keys(clear=clear)


MONITOR_USAGE = "usage: %jaxinspect monitor [--display|--text] [--no-plot] [--off]"


def _monitor(args: list[str]) -> Any:
    from .monitor import _current

    mode, plot = "auto", None
    for word in args:
        if word in ("--display", "--text", "--widget"):
            mode = word[2:]
        elif word == "--no-plot":
            plot = False
        elif word == "--off":
            n = len(_current)
            for m in list(_current):
                m.close()
            return Message(f"closed {n} monitor{'s' if n != 1 else ''}")
        else:
            return Message(f"%jaxinspect monitor: unexpected {word!r}; {MONITOR_USAGE}", level="error")
    return api.monitor(mode=mode, plot=plot)


PROCESSES_USAGE = "usage: %jaxinspect processes [--listen [PORT]] [--stop]"


def _processes(args: list[str]) -> Any:
    from . import processes

    if args[:1] == ["--stop"] and len(args) == 1:
        c = processes.current_collector()
        if c is None:
            return Message("no collector is open")
        c.close()
        return Message(f"closed the collector at {c.address}")
    if args[:1] == ["--listen"] and len(args) <= 2:
        port = args[1] if len(args) == 2 else "0"
        if not port.isdigit() or int(port) > 65535:
            return Message(f"%jaxinspect processes: PORT must be a number, got {port!r}; {PROCESSES_USAGE}",
                           level="error")
        try:
            c = processes.collect_processes(port=int(port))
        except OSError as exc:
            return Message(f"%jaxinspect processes: cannot listen on 127.0.0.1:{port} ({exc}); "
                           "pick another port or leave it out for any free one", level="error")
        env = " ".join(f"{k}={v}" for k, v in c.env.items())
        return Message(
            f"collecting on {c.address}. Start each process with\n  {env}\nin its environment "
            "and call jaxinspect.connect() in it (after jax.distributed.initialize()). "
            "%jaxinspect processes shows them; so does the sidebar's Processes tab."
        )
    if args:
        return Message(f"%jaxinspect processes: unexpected {' '.join(args)!r}; {PROCESSES_USAGE}",
                       level="error")
    c = processes.current_collector()
    if c is None:
        return Message("no collector is open: %jaxinspect processes --listen (or "
                       "c = jaxinspect.collect_processes()) opens one")
    return c


SUBCOMMANDS: dict[str, Callable[[list[str]], Any]] = {
    "status": lambda args: api.status(),
    "compiles": _compiles,
    "buffers": _buffers,
    "keys": _keys,
    "monitor": _monitor,
    "processes": _processes,
    "help": lambda args: Message(HELP),
}


def _params(raw: str) -> Any:
    from IPython import get_ipython

    expr = raw.strip()
    with_stats = False
    while expr.startswith("--"):
        word, _, expr = expr.partition(" ")
        expr = expr.strip()
        if word == "--stats":
            with_stats = True
        else:
            return Message(f"%jaxinspect params: unknown option {word!r}; {PARAMS_USAGE}", level="error")
    if not expr:
        return Message(PARAMS_USAGE, level="error")
    shell = get_ipython()
    try:
        value = eval(expr, shell.user_ns if shell is not None else {})  # noqa: S307 - the user's own expression
    except Exception as exc:  # noqa: BLE001
        return Message(f"%jaxinspect params: evaluating `{expr}` raised {type(exc).__name__}: {exc}", level="error")
    return api.params(value, stats=with_stats, title=expr)


def _watch(raw: str) -> Any:
    from IPython import get_ipython

    from . import extension

    expr = raw.strip()
    inspector = extension.current()
    if not expr:
        names = inspector.watcher.names if inspector else []
        return Message(
            "usage: %jaxinspect watch EXPR   (e.g. state.params; %jaxinspect watch --off [EXPR])\n"
            f"watched now: {', '.join(names) or 'nothing'}",
            level="error" if not names else "info",
        )
    if expr.startswith("--off"):
        target = expr[len("--off") :].strip() or None
        api.unwatch(target)
        return Message(f"stopped watching {target or 'everything'}")
    shell = get_ipython()
    ns = shell.user_ns if shell is not None else {}
    try:
        value = eval(expr, ns)  # noqa: S307 - the user's own expression, checked once here
    except Exception as exc:  # noqa: BLE001
        return Message(f"%jaxinspect watch: evaluating `{expr}` raised {type(exc).__name__}: {exc}", level="error")
    check = api.params(value, title=expr)
    if isinstance(check, Message):
        return check
    code = compile(expr, "<%jaxinspect watch>", "eval")
    api._the_watcher().watch_expression(expr, lambda: eval(code, ns))  # noqa: S307
    return Message(
        f"watching {expr} ({len(check.leaves)} leaves): the sidebar's Params tab samples it while "
        "cells run — norms, update ratios, NaN/Inf alerts. %jaxinspect watch --off stops."
    )


PARAMS_USAGE = "usage: %jaxinspect params [--stats] EXPR   (a params dict, TrainState, NNX module/state/optimizer or pytree)"

RAW_SUBCOMMANDS: dict[str, Callable[[str], Any]] = {
    "sharding": _sharding,
    "params": _params,
    "watch": _watch,
}
