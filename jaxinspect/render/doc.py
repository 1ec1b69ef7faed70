"""One document model for every view, with a text and an HTML back end.

A view builds a tree of the nodes below ONCE; ``to_text`` and ``to_html`` turn that same tree
into the plain-text twin and the HTML, so the two cannot say different things (in the spirit of
JAX's ``pretty_printer`` and treescope's parts, much smaller).

Safety is the back end's job, not the view's: ``to_html`` escapes every string it is given
(text, titles, attribute values, class names). The one way to put markup into the page is
:class:`Markup`, a ``str`` subclass that only render code creates (CSS, a static SVG built with
``esc``, an optional enhancing script); a plain ``str`` handed to :class:`Raw` is escaped like any
other text. The HTML needs no script: folds are ``<details>``.

Nodes
-----
inline (inside a line, heading, cell or summary): ``str`` and :class:`Text` (a role: muted, warn,
code, bold, error; an optional tooltip).

blocks: :class:`Line`, :class:`Heading`, :class:`Group` (indents in text, a ``<div>`` in HTML),
:class:`Section` (a titled fold: ``<details>`` in HTML, "title:" and indented children in text),
:class:`Table` (columns with alignment and width caps, bounded rows and an "… N more" marker),
:class:`More` (an explicit "… N more" marker), :class:`Alert`, :class:`Pre`, :class:`Items`
(a bulleted list), :class:`Blank`, :class:`Raw` (trusted markup, with an optional text twin),
:class:`Fast` (a part with its own fast text and HTML renderers: the jaxpr listing, where a node
per equation would cost more than JAX's own printer) and :class:`View` (the root: title, CSS and
the ``jaxinspect-view`` frame).

Any block may say ``only="html"`` (a detail the text twin leaves out, e.g. a tooltip-like extra,
a timeline drawing) or ``only="text"``. The twin test (tests/test_doc.py) checks every word of
the text appears in the HTML, so ``only="text"`` is for hints about the HTML itself.
"""

from __future__ import annotations

import html as _html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CSS", "Markup", "esc", "Text", "Line", "Heading", "Group", "Section", "Column", "Cell",
    "Table", "More", "Alert", "Pre", "Items", "Blank", "Raw", "Fast", "View", "to_text", "to_html",
    "inline_text",
]  # fmt: skip

CSS = """
<style>
.jaxinspect-view{font-family:var(--jp-ui-font-family,system-ui,sans-serif);font-size:13px;
 color:var(--jp-ui-font-color1,inherit);line-height:1.4}
.jaxinspect-view table{border-collapse:collapse;margin:4px 0}
.jaxinspect-view th,.jaxinspect-view td{text-align:left;padding:2px 10px 2px 0;
 border-bottom:1px solid var(--jp-border-color2,#ddd);vertical-align:top}
.jaxinspect-view th{font-weight:600}
.jaxinspect-view td.ji-r,.jaxinspect-view th.ji-r{text-align:right}
.jaxinspect-view table.ji-boxed td{border:1px solid #999;text-align:center;padding:4px 8px}
.jaxinspect-view code{font-family:var(--jp-code-font-family,monospace)}
.jaxinspect-view .ji-muted{color:var(--jp-ui-font-color2,#666)}
.jaxinspect-view .ji-warn{color:var(--jp-warn-color0,#b26b00)}
.jaxinspect-view .ji-error{color:var(--jp-error-color1,#c00);font-weight:600}
.jaxinspect-view summary{cursor:pointer;font-weight:600}
.jaxinspect-view pre{white-space:pre-wrap;margin:2px 0}
</style>
"""


class Markup(str):
    """Trusted HTML written by render code (never user data); everything else is escaped."""

    __slots__ = ()


def esc(value: Any) -> str:
    """HTML-escape ``str(value)`` (quotes included)."""
    return _html.escape(str(value), quote=True)


# -- nodes ---------------------------------------------------------------------------------------

_ROLE_CLASS = {"muted": "ji-muted", "warn": "ji-warn", "error": "ji-error"}


@dataclass(frozen=True, slots=True)
class Text:
    """An inline run of text with a role (``muted``, ``warn``, ``error``, ``code``, ``bold``),
    an optional tooltip and extra CSS class."""

    value: Any
    role: str | None = None
    title: str | None = None
    cls: str | None = None
    only: str | None = None  # "text": a separator the HTML draws otherwise (chips); "html"
    attrs: tuple[tuple[str, Any], ...] = ()  # data-* attributes (a cell location's cell, line)


Inline = str | Text
Parts = Inline | Sequence[Inline]


@dataclass(frozen=True, slots=True)
class Line:
    """One line of inline parts. ``indent`` levels: two spaces in text, 14 px in HTML."""

    parts: Parts
    role: str | None = None
    indent: int = 0
    cls: str | None = None
    attrs: tuple[tuple[str, Any], ...] = ()
    title: str | None = None
    only: str | None = None


@dataclass(frozen=True, slots=True)
class Heading:
    parts: Parts
    only: str | None = None


@dataclass(frozen=True, slots=True)
class Group:
    """Children one after another; ``indent`` spaces in text; a ``<div>`` in HTML when it has a
    class (otherwise no element at all)."""

    children: Sequence[Any]
    indent: int = 0
    cls: str | None = None
    only: str | None = None


@dataclass(frozen=True, slots=True)
class Section:
    """A titled part. ``fold=True``: ``<details>`` (``open`` or not) in HTML; text always shows
    "title:" then the children indented by ``indent``. ``fold=False``: a bold title line."""

    title: Parts
    children: Sequence[Any]
    open: bool = False
    fold: bool = True
    indent: int = 2
    cls: str | None = None
    colon: bool = True
    only: str | None = None


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    align: str = "left"  # or "right"
    max: int | None = None  # text width cap (cells are cut with "…")
    text: bool = True  # False: an HTML-only column (the text table leaves it out)


@dataclass(frozen=True, slots=True)
class Cell:
    """A table cell: inline parts, plus blocks shown under them in HTML only (``sub``)."""

    parts: Parts
    sub: Sequence[Any] = ()
    title: str | None = None


@dataclass(frozen=True, slots=True)
class More:
    """An explicit "… N more …" marker; renders nothing when ``n`` is 0."""

    n: int
    label: str = "more"
    thousands: bool = False  # "1,234" rather than "1234"
    only: str | None = None

    def text(self) -> str:
        return f"… {self.n:,} {self.label}" if self.thousands else f"… {self.n} {self.label}"


@dataclass(frozen=True, slots=True)
class Table:
    """Columns and rows, at most ``limit`` rows shown, then "… N more {label}" (N counts the
    rows cut here plus ``more`` cut earlier). ``header=False`` leaves the header row out of the
    text (HTML keeps it when any column has a name)."""

    columns: Sequence[Column | str]
    rows: Sequence[Sequence[Any]]
    limit: int | None = None
    more: int = 0
    more_label: str = "more"
    header: bool = True
    cls: str | None = None
    sep: str = "  "
    boxed: bool = False  # text: "| a | b |" rows (a grid of blocks); HTML: ruled cells
    only: str | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """⚠ message, with the fix on the next line."""

    message: Any
    hint: Any = None
    level: str = "warn"
    only: str | None = None


@dataclass(frozen=True, slots=True)
class Pre:
    """Preformatted text (code, a dump): verbatim lines in text, ``<pre>`` in HTML."""

    text: str
    cls: str | None = None
    style: str | None = None
    only: str | None = None


@dataclass(frozen=True, slots=True)
class Items:
    """A bulleted list: ``<ul>`` in HTML, one line per item (``bullet`` first) in text."""

    items: Sequence[Parts]
    bullet: str = ""
    only: str | None = None


@dataclass(frozen=True, slots=True)
class Blank:
    """An empty line in text; nothing in HTML."""

    only: str | None = None


@dataclass(frozen=True, slots=True)
class Raw:
    """Trusted markup (a :class:`Markup`; a plain ``str`` is escaped) with its text twin."""

    markup: str
    text: str | None = None
    only: str | None = None


@dataclass(frozen=True, slots=True)
class Fast:
    """A part with its own fast renderers, for output too large for a node per item (a jaxpr
    listing of thousands of equations): ``text()`` returns plain text, ``html()`` returns
    :class:`Markup` it escaped itself. Each back end calls only its own, once."""

    text: Any  # () -> str
    html: Any  # () -> Markup
    only: str | None = None


@dataclass(frozen=True, slots=True)
class View:
    """The root of a view: its title line and children in the ``jaxinspect-view`` frame."""

    title: Parts
    children: Sequence[Any]
    cls: str | None = None
    css: str = ""  # extra Markup CSS for the view's own classes
    attrs: tuple[tuple[str, Any], ...] = field(default=())


# -- text back end -------------------------------------------------------------------------------


def place(loc: Any, text: str | None = None, role: str | None = None) -> Inline:
    """A :class:`~jaxinspect.records.Location` (or its JSON) as an inline part: ``text`` (default
    the place's own, ``"cell [5] line 3"``); in HTML a notebook cell's place is an element with
    class ``jaxinspect-cell`` and ``data-jaxinspect-cell`` / ``data-jaxinspect-line`` (the
    JupyterLab extension scrolls the notebook to it on a click, finding a re-run cell by the
    line's code) and the line's code as its hover title. Without a place: ``text`` as it is."""
    get = loc.get if isinstance(loc, dict) else (lambda k, d=None: getattr(loc, k, d))
    shown = text if text is not None else (get("text") if loc is not None else None) or "?"
    if loc is None:
        return Text(shown, role=role) if role else shown
    code, cell, line, path = get("code"), get("cell"), get("line"), get("path")
    if cell is None:
        where = f"{path}:{line}" if path and line is not None else path
        title = "\n".join(t for t in (where, code) if t) or None
        return Text(shown, role=role, title=title)
    attrs: tuple[tuple[str, Any], ...] = (("data-jaxinspect-cell", cell),)
    if line is not None:
        attrs += (("data-jaxinspect-line", line),)
    # the line's code travels once, as the hover title (the extension reads it from there): a
    # 6,000-row `buffers --all` repeating it in a data attribute went over the output budget
    return Text(shown, role=role, title=code or None, cls="jaxinspect-cell", attrs=attrs)


def inline_text(parts: Any) -> str:
    if isinstance(parts, str):
        return parts
    if isinstance(parts, Text):
        return "" if parts.only == "html" else str(parts.value)
    if parts is None:
        return ""
    if isinstance(parts, Cell):
        return inline_text(parts.parts)
    if isinstance(parts, (list, tuple)):
        return "".join(inline_text(p) for p in parts)
    return str(parts)


def _cut(s: str, width: int | None) -> str:
    if width is None or len(s) <= width:
        return s
    return s[: max(width - 1, 0)] + "…"


def _push(out: list[str], pad: str, text: str) -> None:
    for line in text.split("\n"):
        out.append((pad + line).rstrip() if line else "")


def _table_text(t: Table, out: list[str], pad: str) -> None:
    cols = [c if isinstance(c, Column) else Column(c) for c in t.columns]
    keep = [i for i, c in enumerate(cols) if c.text]
    shown = t.rows if t.limit is None else t.rows[: t.limit]
    body = [[inline_text(r[i]) if i < len(r) else "" for i in keep] for r in shown]
    head = [cols[i].name for i in keep]
    grid = ([head] if t.header else []) + body
    if grid:
        caps = [cols[i].max for i in keep]
        grid = [[_cut(" ".join(c.split("\n")), caps[j]) for j, c in enumerate(row)] for row in grid]
        widths = [max(len(row[j]) for row in grid) for j in range(len(keep))]
        for row in grid:
            cells = []
            for j, c in enumerate(row):
                last = j == len(row) - 1 and not t.boxed
                if cols[keep[j]].align == "right":
                    cells.append(c.rjust(widths[j]))
                else:
                    cells.append(c if last else c.ljust(widths[j]))
            line = "| " + " | ".join(cells) + " |" if t.boxed else t.sep.join(cells)
            out.append((pad + line).rstrip())
    _node_text(More(len(t.rows) - len(shown) + t.more, t.more_label), out, pad)


def _node_text(node: Any, out: list[str], pad: str) -> None:
    if node is None:
        return
    if isinstance(node, str) and not isinstance(node, Markup):
        _push(out, pad, node)
        return
    if isinstance(node, Markup):
        return
    if getattr(node, "only", None) == "html":
        return
    if isinstance(node, Line):
        _push(out, pad + "  " * node.indent, inline_text(node.parts))
    elif isinstance(node, Heading):
        _push(out, pad, inline_text(node.parts))
    elif isinstance(node, Group):
        sub = pad + " " * node.indent
        for child in node.children:
            _node_text(child, out, sub)
    elif isinstance(node, Section):
        title = inline_text(node.title)
        _push(out, pad, title + (":" if node.colon and title else ""))
        sub = pad + " " * node.indent
        for child in node.children:
            _node_text(child, out, sub)
    elif isinstance(node, Table):
        _table_text(node, out, pad)
    elif isinstance(node, More):
        if node.n > 0:
            _push(out, pad, node.text().rstrip())
    elif isinstance(node, Alert):
        _push(out, pad, f"⚠ {inline_text(node.message)}")
        if node.hint:
            _push(out, pad + "  ", f"fix: {inline_text(node.hint)}")
    elif isinstance(node, Pre):
        out.extend(pad + line if line else "" for line in node.text.split("\n"))
    elif isinstance(node, Items):
        for item in node.items:
            _push(out, pad, node.bullet + inline_text(item))
    elif isinstance(node, Blank):
        out.append("")
    elif isinstance(node, Raw):
        if node.text is not None:
            _push(out, pad, node.text)
        elif not isinstance(node.markup, Markup):
            _push(out, pad, node.markup)
    elif isinstance(node, Fast):
        text = node.text()
        if pad:
            _push(out, pad, text)
        else:
            out.append(text)  # as its renderer wrote it (a listing can be megabytes)
    elif isinstance(node, View):
        _push(out, pad, inline_text(node.title))
        for child in node.children:
            _node_text(child, out, pad)
    elif isinstance(node, (list, tuple)):
        for child in node:
            _node_text(child, out, pad)
    else:
        _push(out, pad, str(node))


def to_text(node: Any) -> str:
    """The plain-text twin of a document."""
    out: list[str] = []
    _node_text(node, out, "")
    return "\n".join(out)


# -- HTML back end -------------------------------------------------------------------------------

_ATTR_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


def _attrs(cls: str | None = None, title: str | None = None, style: str = "",
           attrs: Iterable[tuple[str, Any]] = ()) -> str:  # fmt: skip
    out = []
    if cls:
        out.append(f' class="{esc(cls)}"')
    if title:
        out.append(f' title="{esc(title)}"')
    if style:
        out.append(f' style="{esc(style)}"')
    for name, value in attrs:
        if _ATTR_NAME.match(name) and not name.startswith("on"):
            out.append(f' {name}="{esc(value)}"')
    return "".join(out)


def _classes(*names: str | None) -> str | None:
    return " ".join(n for n in names if n) or None


def _inline_html(parts: Any, out: list[str]) -> None:
    if parts is None:
        return
    if isinstance(parts, str):
        out.append(esc(parts))
    elif isinstance(parts, Text):
        if parts.only == "text":
            return
        value = esc(parts.value)
        role = parts.role
        attrs = parts.attrs
        if role == "code":
            out.append(f"<code{_attrs(parts.cls, parts.title, attrs=attrs)}>{value}</code>")
        elif role == "bold":
            out.append(f"<b{_attrs(parts.cls, parts.title, attrs=attrs)}>{value}</b>")
        elif role or parts.cls or parts.title or attrs:
            out.append(f"<span{_attrs(_classes(_ROLE_CLASS.get(role or ''), parts.cls), parts.title, attrs=attrs)}>{value}</span>")
        else:
            out.append(value)
    elif isinstance(parts, (list, tuple)):
        for p in parts:
            _inline_html(p, out)
    else:
        out.append(esc(parts))


def _cell_html(tag: str, value: Any, col: Column, out: list[str]) -> None:
    cls = "ji-r" if col.align == "right" else None
    if isinstance(value, Cell):
        out.append(f"<{tag}{_attrs(cls, value.title)}>")
        _inline_html(value.parts, out)
        for sub in value.sub:
            _node_html(sub, out)
    else:
        out.append(f"<{tag}{_attrs(cls)}>")
        _inline_html(value, out)
    out.append(f"</{tag}>")


def _table_html(t: Table, out: list[str]) -> None:
    cols = [c if isinstance(c, Column) else Column(c) for c in t.columns]
    shown = t.rows if t.limit is None else t.rows[: t.limit]
    out.append(f"<table{_attrs(_classes(t.cls, 'ji-boxed' if t.boxed else None))}>")
    if any(c.name for c in cols):
        out.append("<thead><tr>")
        for c in cols:
            _cell_html("th", c.name, c, out)
        out.append("</tr></thead>")
    out.append("<tbody>")
    for row in shown:
        out.append("<tr>")
        for i, c in enumerate(cols):
            _cell_html("td", row[i] if i < len(row) else "", c, out)
        out.append("</tr>")
    out.append("</tbody></table>")
    _node_html(More(len(t.rows) - len(shown) + t.more, t.more_label), out)


def _node_html(node: Any, out: list[str]) -> None:
    if node is None:
        return
    if isinstance(node, Markup):
        out.append(node)
        return
    if isinstance(node, str):
        out.append(f"<div>{esc(node)}</div>")
        return
    if getattr(node, "only", None) == "text":
        return
    if isinstance(node, Line):
        style = f"padding-left:{node.indent * 14}px" if node.indent else ""
        out.append(f"<div{_attrs(_classes(_ROLE_CLASS.get(node.role or ''), node.cls), node.title, style, node.attrs)}>")
        if node.role == "code":
            out.append("<code>")
            _inline_html(node.parts, out)
            out.append("</code>")
        else:
            _inline_html(node.parts, out)
        out.append("</div>")
    elif isinstance(node, Heading):
        out.append("<div><b>")
        _inline_html(node.parts, out)
        out.append("</b></div>")
    elif isinstance(node, Group):
        if node.cls:
            out.append(f"<div{_attrs(node.cls)}>")
        for child in node.children:
            _node_html(child, out)
        if node.cls:
            out.append("</div>")
    elif isinstance(node, Section):
        if node.fold:
            out.append(f"<details{' open' if node.open else ''}{_attrs(node.cls)}><summary>")
            _inline_html(node.title, out)
            out.append("</summary>")
            for child in node.children:
                _node_html(child, out)
            out.append("</details>")
        else:
            out.append(f"<div{_attrs(node.cls)}><div><b>")
            _inline_html(node.title, out)
            out.append("</b></div>")
            for child in node.children:
                _node_html(child, out)
            out.append("</div>")
    elif isinstance(node, Table):
        _table_html(node, out)
    elif isinstance(node, More):
        if node.n > 0:
            out.append(f'<div class="ji-muted">{esc(node.text())}</div>')
    elif isinstance(node, Alert):
        cls = {"info": "ji-muted", "error": "ji-error"}.get(node.level, "ji-warn")
        out.append(f'<div class="{cls}">⚠ ')
        _inline_html(node.message, out)
        if node.hint:
            out.append("<br>fix: ")
            _inline_html(node.hint, out)
        out.append("</div>")
    elif isinstance(node, Pre):
        out.append(f"<pre{_attrs(node.cls, style=node.style or '')}>{esc(node.text)}</pre>")
    elif isinstance(node, Items):
        out.append("<ul>")
        for item in node.items:
            out.append("<li>")
            _inline_html(item, out)
            out.append("</li>")
        out.append("</ul>")
    elif isinstance(node, Blank):
        pass
    elif isinstance(node, Raw):
        out.append(node.markup if isinstance(node.markup, Markup) else f"<div>{esc(node.markup)}</div>")
    elif isinstance(node, Fast):
        markup = node.html()
        out.append(markup if isinstance(markup, Markup) else f"<div>{esc(markup)}</div>")
    elif isinstance(node, View):
        out.append(CSS)
        if node.css:
            out.append(node.css if isinstance(node.css, Markup) else "")
        out.append(f"<div{_attrs(_classes('jaxinspect-view', node.cls), attrs=node.attrs)}><div><b>")
        _inline_html(node.title, out)
        out.append("</b></div>")
        for child in node.children:
            _node_html(child, out)
        out.append("</div>")
    elif isinstance(node, (list, tuple)):
        for child in node:
            _node_html(child, out)
    else:
        out.append(f"<div>{esc(node)}</div>")


def to_html(node: Any) -> str:
    """The HTML of a document: every string escaped, folds as ``<details>``, no script needed."""
    out: list[str] = []
    _node_html(node, out)
    return "".join(out)
