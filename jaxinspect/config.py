"""User-tunable settings: ``jaxinspect.config.storm_threshold = 10``."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class Config:
    #: recompiles of one function (after its first compile) that raise a "recompile storm" alert
    storm_threshold: int = 5
    #: print each storm alert once, as one line on stderr, in the cell that caused it
    print_alerts: bool = True
    #: compile events kept in the session's ring buffer (aggregates stay exact)
    compile_capacity: int = 10_000
    #: idle seconds without a ping from a sidebar before the kernel stops sending to it (a page
    #: closed without a goodbye); sidebars ping every 20 s
    sidebar_silence_s: float = 120.0


config = Config()
