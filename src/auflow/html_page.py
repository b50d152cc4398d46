"""The Markdown that :mod:`auflow.report` writes, as one self-contained HTML page (or a fragment
of one), with numbers right-aligned in their table cells."""

from __future__ import annotations

import html
import re

_INLINE = [
    (re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"\*(.+?)\*"), r"<em>\1</em>"),
    # a span, not <code>: the report's stylesheet writes backticks around <code>
    (re.compile(r"`(.+?)`"), r'<span style="font-family: monospace">\1</span>'),
]
_NUMBER = re.compile(r"^[-+]?\d+(\.\d+)?( ± \d+(\.\d+)?)?$")
PAGE_STYLE = """
body { font-family: system-ui, sans-serif; font-size: 14px; line-height: 1.45; margin: 1.5em;
       color: #222; max-width: 1400px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; }
th { background: #f0f0f0; } td.number { text-align: right; }
"""


def _inline(text: str) -> str:
    text = html.escape(text, quote=False)
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return text


def markdown_html(markdown: str, title: str | None = None) -> str:
    """The Markdown this module writes (headings, paragraphs, lists, pipe tables, bold, italics,
    code) as HTML: a whole page with ``title``, or a fragment without."""
    out: list[str] = []
    blocks = re.split(r"\n\s*\n", markdown.strip())
    for block in blocks:
        lines = block.splitlines()
        if lines[0].startswith("#"):
            level = len(lines[0]) - len(lines[0].lstrip("#"))
            out.append(f"<h{level}>{_inline(lines[0][level:].strip())}</h{level}>")
            lines = lines[1:]
            if not lines:
                continue
        if lines[0].startswith("|"):
            rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
            header, body = rows[0], [r for r in rows[1:] if not set("".join(r)) <= set("-:")]
            out.append("<table><thead><tr>")
            out += [f"<th>{_inline(c)}</th>" for c in header]
            out.append("</tr></thead><tbody>")
            for row in body:
                cells = [
                    f'<td class="number">{c}</td>' if _NUMBER.match(c) else f"<td>{_inline(c)}</td>"
                    for c in row
                ]
                out.append("<tr>" + "".join(cells) + "</tr>")
            out.append("</tbody></table>")
        elif lines[0].startswith("- "):
            items = "".join(f"<li>{_inline(line[2:])}</li>" for line in lines)
            out.append(f"<ul>{items}</ul>")
        else:
            out.append(f"<p>{_inline(' '.join(lines))}</p>")
    body = "\n".join(out)
    if title is None:
        return body
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{PAGE_STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )
