"""The page every botmm HTML output shares: one self-contained document with inline styles (no external file, so
a report can be mailed or archived as it is)."""

from __future__ import annotations

import html

CSS = """
:root { color-scheme: light; }
body { font: 15px/1.55 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1d2330;
       background: #f5f6f8; margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; min-height: 100vh;
       box-shadow: 0 0 12px rgba(0, 0, 0, .06); }
h1 { font-size: 1.7em; margin: .2em 0 .6em; border-bottom: 2px solid #1f5fa8; padding-bottom: .25em; }
h2 { font-size: 1.3em; margin: 1.6em 0 .5em; color: #1f5fa8; }
h3 { font-size: 1.1em; margin: 1.3em 0 .4em; }
a { color: #1f5fa8; }
code { font: 0.9em/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #eef1f5;
       padding: .1em .3em; border-radius: 3px; }
pre { background: #1d2330; color: #e8ecf2; padding: 12px 16px; border-radius: 6px; overflow-x: auto; }
pre code { background: none; color: inherit; padding: 0; }
blockquote { margin: 1em 0; padding: .2em 1em; border-left: 4px solid #c8d3e0; color: #4a5568; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .9em; }
.scroll { overflow-x: auto; }
th, td { border: 1px solid #dde3ea; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #eef1f5; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #e3e7ec; }
figcaption { font-size: .85em; color: #5a6474; }
footer { margin-top: 3em; font-size: .8em; color: #8a94a3; }
"""


def page(title: str, body: str, footer: str = "") -> str:
    """A complete HTML document around ``body`` (already HTML)."""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}\n"
            f"<footer>{html.escape(footer)}</footer>\n</main>\n</body>\n</html>\n")
