import json
import subprocess
import sys
from pathlib import Path

import pytest

from agentkit import __version__, default_catalog
from agentkit.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"agentkit {__version__}"


def test_help_without_a_command(capsys):
    assert main([]) == 0
    assert "usage: agentkit" in capsys.readouterr().out


def test_console_script_is_installed():
    """The `agentkit` entry point runs as a real process."""
    script = Path(sys.executable).with_name("agentkit")
    done = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"agentkit {__version__}"


TOOLS_FILE = '''
from agentkit import tool

@tool
def shout(text: str) -> str:
    """Shout a text."""
    return text.upper()

def whisper(text: str) -> str:
    """Whisper a text."""
    return text.lower()
'''


def test_models_prints_the_catalog(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["model", "style"]
    assert any(line.split()[:2] == ["gpt-3.5-turbo-1106", "tools"] for line in lines)
    assert len(lines) == 1 + len(default_catalog)


def test_models_as_json_gives_numbers(capsys):
    """Windows, limits and prices are JSON numbers (null when unknown), not display text."""
    assert main(["models", "--json"]) == 0
    models = {m["model"]: m for m in json.loads(capsys.readouterr().out)}
    assert models["gpt-4-vision-preview"]["style"] is None
    turbo = models["gpt-3.5-turbo-1106"]
    assert turbo == {
        "model": "gpt-3.5-turbo-1106",
        "style": "tools",
        "context_window": 16385,
        "max_output_tokens": 4096,
        "vision": False,
        "input_price": turbo["input_price"],
        "output_price": turbo["output_price"],
        "structured_output": False,
        "tool_choice_required": False,
    }
    assert isinstance(turbo["input_price"], float)
    assert str(turbo["input_price"]) == f"{turbo['input_price']:.12g}"  # no float noise


def test_schema_of_every_tool_in_a_file(tmp_path, capsys):
    path = tmp_path / "my_tools.py"
    path.write_text(TOOLS_FILE)
    assert main(["schema", str(path)]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert entry == {
        "name": "shout",
        "description": "Shout a text.",
        "parameters": {
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
            "type": "object",
        },
    }


def test_schema_of_a_plain_function_in_the_tools_form(tmp_path, capsys):
    path = tmp_path / "my_tools.py"
    path.write_text(TOOLS_FILE)
    assert main(["schema", f"{path}:whisper", "--style", "tools"]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert entry["type"] == "function"
    assert entry["function"]["name"] == "whisper"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_xyz", "no module named 'no_such_module_xyz'"),
        ("json:no_such_name", "json has no 'no_such_name'"),
        ("json", "defines no @tool functions"),
        ("missing/file.py", "no such file"),
    ],
)
def test_bad_tool_specs_give_one_clear_line(spec, message, capsys):
    assert main(["schema", spec]) == 2
    err = capsys.readouterr().err
    assert err.startswith("agentkit: Cannot load tools from")
    assert message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "def f():\n    return 1 / 0\n\nrate = f()\n",
            "line 2: ZeroDivisionError: division by zero",
        ),
        ("def f(:\n    pass\n", "line 1: SyntaxError: "),
        ("import no_such_module_xyz\n", "line 1: ModuleNotFoundError: No module named"),
    ],
    ids=["raises", "syntax", "import"],
)
def test_a_tools_file_that_fails_gives_one_line_saying_where(source, message, tmp_path, capsys):
    """The file's own error, its line, and how to see the traceback; nothing else."""
    path = tmp_path / "broken_tools.py"
    path.write_text(source, encoding="utf-8")
    assert main(["schema", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"agentkit: Cannot load tools from {str(path)!r}: {message}")
    assert err.endswith(f"`python {path}` shows the whole traceback.\n")
    assert len(err.splitlines()) == 1
    assert not [m for m in sys.modules.values() if getattr(m, "__file__", None) == str(path)]


def test_a_reader_that_leaves_early_is_no_error():
    """`agentkit models --json | head -1`: the closed pipe ends the command quietly."""
    command = [sys.executable, "-m", "agentkit.cli", "models", "--json"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        process.stdout.close()  # the reader is gone before the first write
        errors = process.stderr.read()
    assert process.returncode == 1
    assert errors == b""
