"""docs/plugins.md's hook reference is generated from botmm.hookspecs' docstrings and current; it documents every
hookspec with its arguments and no hook that does not exist."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from botmm import hookdocs, hookspecs

DOC = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
HEADING = re.compile(r"^(#+)\s+(.*?)\s*$", re.MULTILINE)


def hookspec_names() -> dict[str, list[str]]:
    """Every hookspec (a ``botmm_*`` function carrying pluggy's ``botmm_spec`` marker) and its argument names."""
    return {
        name: list(inspect.signature(func).parameters)
        for name, func in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("botmm_") and hasattr(func, "botmm_spec")
    }


def hook_sections() -> dict[str, str]:
    """The text under each ``### botmm_...`` heading of the guide, up to the next heading."""
    text = DOC.read_text()
    headings = list(HEADING.finditer(text))
    sections = {}
    for here, after in zip(headings, [*headings[1:], None]):
        if here.group(1) == "###" and here.group(2).startswith("botmm_"):
            sections[here.group(2)] = text[here.end(): after.start() if after else len(text)]
    return sections


SPECS = hookspec_names()


def test_the_hook_reference_is_generated_and_current() -> None:
    page = DOC.read_text()
    assert hookdocs.BEGIN in page and hookdocs.END in page
    assert page == hookdocs.with_reference(page), "stale: run python -m botmm.hookdocs docs/plugins.md"


def test_hookspecs_found() -> None:
    assert "botmm_register_quoters" in SPECS and "botmm_run_end" in SPECS


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hook_documented_with_its_arguments(name: str) -> None:
    sections = hook_sections()
    assert name in sections, f"docs/plugins.md has no '### {name}' heading"
    for arg in SPECS[name]:
        assert re.search(rf"\b{arg}\b", sections[name]), f"section '### {name}' never mentions argument {arg!r}"


def test_no_documented_hook_that_does_not_exist() -> None:
    unknown = sorted(set(hook_sections()) - set(SPECS))
    assert not unknown, f"docs/plugins.md documents hooks that botmm.hookspecs does not define: {unknown}"
