"""Where the command keeps a user's files: the key in the config dir, the log in the data dir.

The platforms' own places (as `platformdirs` would give; a few lines do not need it):
`$XDG_CONFIG_HOME/agentkit` (default `~/.config/agentkit`) and `$XDG_DATA_HOME/agentkit`
(default `~/.local/share/agentkit`) on Linux and other Unix systems, `~/Library/Application
Support/agentkit` on macOS, `%APPDATA%/agentkit` and `%LOCALAPPDATA%/agentkit` on Windows.
The XDG variables win on every platform when set.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["config_dir", "data_dir"]


def _base(xdg: str, windows: str, unix_default: str) -> Path:
    if os.environ.get(xdg):
        return Path(os.environ[xdg])
    if sys.platform == "win32" and os.environ.get(windows):
        return Path(os.environ[windows])
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support"
    return Path.home() / unix_default


def config_dir() -> Path:
    """The directory for the user's settings and stored key (not created here)."""
    return _base("XDG_CONFIG_HOME", "APPDATA", ".config") / "agentkit"


def data_dir() -> Path:
    """The directory for the conversation log and the chat history (not created here)."""
    return _base("XDG_DATA_HOME", "LOCALAPPDATA", ".local/share") / "agentkit"
