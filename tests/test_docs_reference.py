"""The reference pages: every error class drawn in the tree, code that fits its box."""

from __future__ import annotations

import re
from pathlib import Path

import agentkit
from agentkit import _exceptions

ROOT = Path(__file__).parent.parent
PAGES = [*sorted((ROOT / "docs" / "pages").glob("*.md")), ROOT / "README.md"]
CODE_WIDTH = 100  # as ruff's line length; the box shows it at the widths extra.css sets
_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```[\w-]*[ \t]*\n(?P<code>.*?)^(?P=indent)```", re.M | re.S
)


def test_the_error_tree_draws_every_error_class():
    """The tree in `_exceptions` (the errors page shows it, then an entry per class) names
    every exception agentkit exports."""
    errors = {
        name
        for name in agentkit.__all__
        if isinstance(getattr(agentkit, name), type)
        and issubclass(getattr(agentkit, name), BaseException)
    }
    drawn = set(re.findall(r"\b[A-Z]\w+\b", _exceptions.__doc__ or ""))
    assert errors <= drawn, errors - drawn


def test_code_lines_fit_the_code_boxes():
    """No line of a code block in the docs is wider than the box shows (a reader would have
    to scroll sideways to see the end of it)."""
    too_wide = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for block in _FENCE.finditer(text):
            first = text.count("\n", 0, block.start()) + 2
            for offset, line in enumerate(block.group("code").splitlines()):
                if len(line) - len(block.group("indent")) > CODE_WIDTH:
                    too_wide.append(f"{page.name}:{first + offset}: {len(line)} characters")
    assert not too_wide, "\n".join(too_wide)
