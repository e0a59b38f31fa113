"""Markdown to one styled, self-contained HTML page (the seed's md_to_html), for docs and written reports.

CommonMark plus tables and strikethrough, rendered by markdown-it-py (already installed with rich); raw HTML in the
source is escaped, not passed through. The page title is the first heading's text, else the file name."""

from __future__ import annotations

import html
import re
from pathlib import Path

from botmm.errors import DataError
from botmm.report.style import page

_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def render_markdown(text: str, title: str = "document") -> str:
    """``text`` (Markdown) as a complete HTML document titled by its first heading, else ``title``."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"]).render(text)
    heading = _HEADING.search(text)
    return page(heading.group(1) if heading else title, body)


def markdown_file(path: str | Path, out: str | Path | None = None) -> Path:
    """Render the Markdown file ``path`` to ``out`` (default: beside it, ``.html``); the path written."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{path}: {exc.strerror or exc}") from None
    target = Path(out) if out is not None else path.with_suffix(".html")
    target.write_text(render_markdown(text, html.unescape(path.stem)), encoding="utf-8")
    return target
