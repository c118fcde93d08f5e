"""The key `agentkit keys set` stores, for the command and the library alike.

`ChatClient` and the command use it when neither an `api_key=` nor `GOAPI_KEY` gives one
(the order is `_endpoint`'s).

The key file is `keys.json` in the user's config dir (`agentkit keys path`), written whole
(a temporary file renamed over it) with permissions 0600 in a 0700 directory, so that other
users cannot read it. The command never prints a key back, not even part of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from ._exceptions import UsageError
from ._userdirs import config_dir

__all__ = ["delete_key", "key_path", "store_key", "stored_key"]

_NAME = "goapi"


def key_path() -> Path:
    """Where `agentkit keys set` stores the key."""
    return config_dir() / "keys.json"


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise UsageError(
            f"Cannot read the stored keys in {path} ({type(error).__name__}); fix or delete "
            "the file, then run 'agentkit keys set' again."
        ) from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not a JSON object; delete it and run 'agentkit keys set'.")
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str)}


def stored_key() -> str | None:
    """The key `agentkit keys set` stored, if any."""
    return _read(key_path()).get(_NAME) or None


def _write(path: Path, keys: dict[str, str]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".keys-", dir=path.parent)  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(keys, file, indent=2)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def store_key(key: str) -> Path:
    """Store `key` for the command; returns the file's path."""
    key = key.strip()
    if not key:
        raise UsageError("The key is empty; nothing was stored.")
    if any(c.isspace() for c in key) or not key.isprintable():
        raise UsageError("The key has spaces or control characters; nothing was stored.")
    path = key_path()
    keys = _read(path)
    keys[_NAME] = key
    try:
        _write(path, keys)
    except OSError as error:
        raise UsageError(f"Cannot store the key in {path}: {error.strerror or error}.") from None
    return path


def delete_key() -> bool:
    """Remove the stored key; whether there was one."""
    path = key_path()
    keys = _read(path)
    if _NAME not in keys:
        return False
    del keys[_NAME]
    try:
        _write(path, keys)
    except OSError as error:
        raise UsageError(f"Cannot update {path}: {error.strerror or error}.") from None
    return True
