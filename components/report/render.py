"""The report's blocks and their two renderings: Markdown and one self-contained HTML page.

A report is a list of blocks (headings, paragraphs, lists, tables, plots) that `sections.py`
writes from the facts of a run; `markdown` and `html` render the same blocks, so the two files
never disagree. An image block names one of the PNG plots (`plots.py`): a file beside report.md,
a data URI inside report.html. Anything else in a list of blocks is an error, not skipped.
"""

from __future__ import annotations

import base64
import html as html_lib
from dataclasses import dataclass

TITLE = "bertpipe run report"


@dataclass(frozen=True)
class Heading:
    """A section heading (the page title is TITLE)."""

    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str
    strong: bool = False  # the verdict: bold in Markdown, larger in HTML


@dataclass(frozen=True)
class BulletList:
    items: list[str]


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Image:
    name: str  # the plot's file name (plots.py)


Block = Heading | Paragraph | BulletList | Table | Image


def _unknown(block: object) -> TypeError:
    kinds = ", ".join(kind.__name__ for kind in Block.__args__)
    return TypeError(f"not a report block: {block!r}; expected one of {kinds}")


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(blocks: list[Block]) -> str:
    """report.md: the blocks as Markdown; plots are the PNG files beside it."""
    out = [f"# {TITLE}", ""]
    for block in blocks:
        match block:
            case Heading(text=text):
                out += [f"## {text}", ""]
            case Paragraph(text=text, strong=strong):
                out += [f"**{text}**" if strong else text, ""]
            case BulletList(items=items):
                out += [f"- {item}" for item in items] + [""]
            case Table(header=header, rows=rows):
                out.append("| " + " | ".join(map(_md_cell, header)) + " |")
                out.append("|" + "---|" * len(header))
                out += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in rows]
                out.append("")
            case Image(name=name):
                out += [f"![{name}]({name})", ""]
            case _:
                raise _unknown(block)
    return "\n".join(out)


_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 60em; color: #1f2328; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #d0d7de; padding: 0.3em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f6f8fa; }
code { background: #f6f8fa; padding: 0.1em 0.3em; }
.verdict { font-size: 1.2em; font-weight: bold; }
"""


def _inline(text: str) -> str:
    """HTML of a line of text, with `code` spans as <code>."""
    parts = html_lib.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def html(blocks: list[Block], images: dict[str, bytes]) -> str:
    """report.html: the blocks as one self-contained page (`images`, the plots by file name,
    embedded as data URIs)."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html_lib.escape(TITLE)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html_lib.escape(TITLE)}</h1>",
    ]
    for block in blocks:
        match block:
            case Heading(text=text):
                out.append(f"<h2>{_inline(text)}</h2>")
            case Paragraph(text=text, strong=strong):
                css = ' class="verdict"' if strong else ""
                out.append(f"<p{css}>{_inline(text)}</p>")
            case BulletList(items=items):
                out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            case Table(header=header, rows=rows):
                head = "".join(f"<th>{_inline(h)}</th>" for h in header)
                body = "".join(
                    "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
                    for row in rows
                )
                out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            case Image(name=name):
                data = base64.b64encode(images[name]).decode("ascii")
                out.append(
                    f'<p><img alt="{html_lib.escape(name)}" src="data:image/png;base64,{data}"></p>'
                )
            case _:
                raise _unknown(block)
    out.append("</body></html>")
    return "\n".join(out) + "\n"
