"""Every ```python block of the documentation and the README runs as written.

The blocks of one page run in order in one namespace, as a reader would run them, so a later
block may use what an earlier one defined. A block right after the line `<!-- skip-test -->`
is not run: that marks the few that need the network or a real key. Each page runs in a
temporary working directory, with the network blocked and without `GOAPI_KEY` (see
conftest), and under `filterwarnings = error`, so a block that leaves a connection open
fails.
"""

from __future__ import annotations

import re
import sys
import textwrap
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PAGES = [*sorted((ROOT / "docs" / "pages").glob("*.md")), ROOT / "README.md"]
SKIP = "<!-- skip-test -->"

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```python[ \t]*\n(?P<code>.*?)^(?P=indent)```[ \t]*$",
    flags=re.DOTALL | re.MULTILINE,
)


@dataclass(frozen=True)
class Block:
    line: int  # the line of the opening fence, 1-based
    code: str  # padded with newlines, so that tracebacks show the page's own line numbers
    skipped: bool


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        fence_line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].splitlines()
        skipped = bool(before) and before[-1].strip() == SKIP
        code = "\n" * fence_line + textwrap.dedent(match.group("code"))
        found.append(Block(fence_line, code, skipped))
    return found


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


PAGES_WITH_CODE = [page for page in PAGES if blocks(page)]


def test_the_blocks_are_found():
    """A broken pattern would find nothing and pass every page."""
    assert len(PAGES_WITH_CODE) >= 10
    assert ROOT / "README.md" in PAGES_WITH_CODE
    assert sum(len(blocks(page)) for page in PAGES_WITH_CODE) >= 50


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_skip_markers_sit_right_above_a_python_block(page: Path):
    """A misplaced marker would skip nothing, silently."""
    lines = page.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines[:-1], 1):
        if line.strip() == SKIP:
            assert lines[number].strip() == "```python", f"{_name(page)}, line {number}"
    assert lines[-1:] != [SKIP]


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=_name)
def test_code_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The page's Python blocks run one after another, and their asserts hold."""
    monkeypatch.chdir(tmp_path)
    # A real module, so that dataclasses and pydantic can look their module up.
    module = types.ModuleType(f"docs_{page.stem.replace('-', '_')}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for block in blocks(page):
        if block.skipped:
            continue
        try:
            # dont_inherit: the blocks must not get this file's `from __future__` imports.
            code = compile(block.code, str(page), "exec", dont_inherit=True)
            exec(code, module.__dict__)
        except Exception as error:
            where = f"{_name(page)}, the block at line {block.line}"
            raise AssertionError(f"{where}: {type(error).__name__}: {error}") from error
