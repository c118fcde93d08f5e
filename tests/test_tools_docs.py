"""The code blocks of docs/pages/tools.md run as written."""

import re
from pathlib import Path

PAGE = Path(__file__).parent.parent / "docs" / "pages" / "tools.md"


def test_code_blocks_run_in_order():
    """The page's Python blocks run one after another, as a reader would, and their asserts hold."""
    text = PAGE.read_text()
    blocks = list(re.finditer(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE))
    assert len(blocks) >= 5
    namespace = {"__name__": "docs_tools"}
    for block in blocks:
        # Pad with newlines so a traceback points at the right line of the page.
        line = text.count("\n", 0, block.start(1))
        exec(compile("\n" * line + block.group(1), str(PAGE), "exec"), namespace)
