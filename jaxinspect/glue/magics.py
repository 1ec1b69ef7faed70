"""``%jaxinspect SUBCOMMAND``: thin sugar over the Python API."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class

from .. import api
from .display import Message

HELP = """\
%jaxinspect SUBCOMMAND — JAX introspection for this kernel

  %jaxinspect status    versions, backend, devices, and what jaxinspect is recording
                        (same as jaxinspect.status())
  %jaxinspect help      this text

The sidebar (View → "Show jaxinspect", or the command palette) follows the active notebook and
updates while cells run. %unload_ext jaxinspect removes every hook jaxinspect added."""


@magics_class
class JaxInspectMagics(Magics):
    """The ``%jaxinspect`` line magic."""

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


SUBCOMMANDS: dict[str, Callable[[list[str]], Any]] = {
    "status": lambda args: api.status(),
    "help": lambda args: Message(HELP),
}
