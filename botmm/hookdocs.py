"""The hook reference in docs/plugins.md, generated from the hookspecs' docstrings (:mod:`botmm.hookspecs`), so the
reference is written once: ``python -m botmm.hookdocs docs/plugins.md`` rewrites the text between the page's
:data:`BEGIN` and :data:`END` markers, and tests/test_plugin_docs.py fails when it is stale."""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

from botmm import hookspecs


def reference() -> str:
    """The Markdown reference of every hook: a ``### name`` section each, in this module's order, with its call
    signature and docstring (reStructuredText roles and double backquotes turned into Markdown code).
    """
    sections = []
    for name, func in vars(hookspecs).items():
        if name.startswith("botmm_") and hasattr(func, "botmm_spec"):
            args = ", ".join(inspect.signature(func).parameters)
            text = inspect.cleandoc(func.__doc__ or "")
            text = re.sub(r":(?:class|meth|func|mod):`~?([^`]+)`", r"`\1`", text).replace("``", "`")
            sections.append(f"### {name}\n\n`{name}({args})`\n\n{text}\n")
    return "\n".join(sections)


BEGIN = "<!-- hooks: generated from botmm/hookspecs.py by `python -m botmm.hookdocs docs/plugins.md` -->"
END = "<!-- hooks: end -->"


def with_reference(page: str) -> str:
    """``page`` with the text between :data:`BEGIN` and :data:`END` replaced by :func:`reference`."""
    head, rest = page.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n\n{reference()}\n{END}{tail}"


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.write_text(with_reference(target.read_text()))
