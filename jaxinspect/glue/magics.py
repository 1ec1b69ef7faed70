"""Magics: ``%jaxinspect SUBCOMMAND`` and ``%jit_profile``; thin sugar over the Python API."""

from __future__ import annotations

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
  %jaxinspect help             this text

  %jit_profile [-o] [-q] [--all] STATEMENT   run STATEMENT, report each trace/lower/compile
  %%jit_profile [-o] [-q] [--all]            ... for the whole cell
                               (= `with jaxinspect.profile(all=...) as p: ...`)

The sidebar (command palette: "Show jaxinspect") follows the active notebook and updates while
cells run. %unload_ext jaxinspect removes every hook jaxinspect added."""

JIT_PROFILE_USAGE = "usage: %jit_profile [-o] [-q] [--all] STATEMENT   (or %%jit_profile [-o] [-q] [--all] on a cell)"


@magics_class
class JaxInspectMagics(Magics):
    """The ``%jaxinspect`` and ``%jit_profile`` magics."""

    @line_magic
    def jaxinspect(self, line: str) -> Any:
        """%jaxinspect SUBCOMMAND — run ``%jaxinspect help`` for the list."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            return Message(f"%jaxinspect: could not parse {line!r}: {exc}", level="error")
        if not words:
            return Message(HELP)
        sub, rest = words[0], words[1:]
        handler = SUBCOMMANDS.get(sub)
        if handler is None:
            known = ", ".join(SUBCOMMANDS)
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


def _compiles(args: list[str]) -> Any:
    unknown = [a for a in args if a != "--all"]
    if unknown:
        return Message(
            f"%jaxinspect compiles: unknown option {unknown[0]!r}; usage: %jaxinspect compiles [--all]",
            level="error",
        )
    return api.compile_log(all="--all" in args)


SUBCOMMANDS: dict[str, Callable[[list[str]], Any]] = {
    "status": lambda args: api.status(),
    "compiles": _compiles,
    "help": lambda args: Message(HELP),
}
