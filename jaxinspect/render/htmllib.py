"""Small HTML helpers shared by renderers; every user-derived string goes through ``esc``."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

CSS = """
<style>
.jaxinspect-view{font-family:var(--jp-ui-font-family,system-ui,sans-serif);font-size:13px;
 color:var(--jp-ui-font-color1,inherit);line-height:1.4}
.jaxinspect-view table{border-collapse:collapse;margin:4px 0}
.jaxinspect-view th,.jaxinspect-view td{text-align:left;padding:2px 10px 2px 0;
 border-bottom:1px solid var(--jp-border-color2,#ddd);vertical-align:top}
.jaxinspect-view th{font-weight:600}
.jaxinspect-view code{font-family:var(--jp-code-font-family,monospace)}
.jaxinspect-view .ji-muted{color:var(--jp-ui-font-color2,#666)}
.jaxinspect-view .ji-warn{color:var(--jp-warn-color0,#b26b00)}
.jaxinspect-view summary{cursor:pointer;font-weight:600}
</style>
"""


def esc(value: Any) -> str:
    """HTML-escape ``str(value)`` (quotes included)."""
    return html.escape(str(value), quote=True)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def view(inner: str, title: str) -> str:
    return f'{CSS}<div class="jaxinspect-view"><div><b>{esc(title)}</b></div>{inner}</div>'
