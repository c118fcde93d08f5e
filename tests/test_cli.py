import subprocess
import sys
from pathlib import Path

import pytest

from agentkit import __version__
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
