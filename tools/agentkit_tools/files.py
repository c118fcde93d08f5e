"""`list_files`, `read_file` and `write_file`, confined to one root directory.

Every path the model gives is relative to the root. It is refused when it is absolute,
contains `..`, or leads out of the root once symbolic links are resolved (a link inside the
root to a file inside the root is fine). Reads and writes are text (UTF-8) only and capped in
size. The checks resolve the real path just before each use; a process that swaps directories
for links while the agent runs could still race them, so give the agent a root that only it
writes to.

Examples:
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as root:
    ...     files = FileTools(root)
    ...     print(files.write_file("notes/todo.txt", "buy milk"))
    ...     print(files.list_files("notes"))
    ...     print(files.read_file("notes/todo.txt"))
    Wrote 8 bytes to notes/todo.txt.
    todo.txt (8 bytes)
    buy milk
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from agentkit import Tool, ToolRetry, UsageError, tool

__all__ = ["MAX_ENTRIES", "MAX_READ_BYTES", "MAX_WRITE_BYTES", "FileTools", "file_tools"]

MAX_READ_BYTES = 200_000
"""Default cap on what `read_file` returns; a longer file is cut, with a note."""

MAX_WRITE_BYTES = 1_000_000
"""Default cap on what `write_file` accepts."""

MAX_ENTRIES = 200
"""Default cap on the entries `list_files` shows."""


class FileTools:
    """File tools for the model, confined to `root`.

    Args:
        root: The directory the model may see; it must exist.
        max_read_bytes: Most bytes `read_file` returns (a longer file is cut, with a note).
        max_write_bytes: Most bytes (UTF-8) `write_file` accepts.
        max_entries: Most entries `list_files` shows.
        writable: Offer `write_file`; `False` makes the tools read-only.
        approve_writes: Make each `write_file` call wait for the agent's approval.

    Raises:
        UsageError: `root` is not an existing directory.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        max_read_bytes: int = MAX_READ_BYTES,
        max_write_bytes: int = MAX_WRITE_BYTES,
        max_entries: int = MAX_ENTRIES,
        writable: bool = True,
        approve_writes: bool = False,
    ) -> None:
        path = Path(root)
        if not path.is_dir():
            raise UsageError(f"FileTools: the root {str(root)!r} is not an existing directory.")
        self.root = path.resolve(strict=True)
        self.max_read_bytes = max_read_bytes
        self.max_write_bytes = max_write_bytes
        self.max_entries = max_entries
        self.writable = writable
        self.approve_writes = approve_writes

    def __repr__(self) -> str:
        return f"FileTools({str(self.root)!r})"

    @property
    def tools(self) -> list[Tool[..., str]]:
        """The tools to give an agent: `list_files`, `read_file` and (if writable) `write_file`."""
        made: list[Tool[..., str]] = [tool(self.list_files), tool(self.read_file)]
        if self.writable:
            made.append(tool(self.write_file, requires_approval=self.approve_writes))
        return made

    # ----------------------------------------------------------------------- the tools

    def list_files(self, path: str = ".") -> str:
        """List the files and folders in a folder (folders end with a slash).

        Args:
            path: The folder, relative to the working folder; "." for the working folder itself.
        """
        folder = self.resolve(path)
        if folder.is_file():
            raise ToolRetry(f"{self.show(folder)!r} is a file, not a folder; use read_file.")
        if not folder.is_dir():
            raise ToolRetry(f"There is no folder {self.show(folder)!r}; try list_files('.').")
        try:
            entries = sorted(folder.iterdir(), key=lambda entry: entry.name)
        except OSError as exc:
            raise ToolRetry(f"Could not list {self.show(folder)!r}: {_reason(exc)}.") from None
        if not entries:
            return f"The folder {self.show(folder)!r} is empty."
        lines = [self.describe(entry) for entry in entries[: self.max_entries]]
        if len(entries) > self.max_entries:
            lines.append(f"... and {len(entries) - self.max_entries} more")
        return "\n".join(lines)

    def read_file(self, path: str) -> str:
        """Read a text file and return its contents.

        Args:
            path: The file, relative to the working folder, e.g. "notes/todo.txt".
        """
        file = self.resolve(path)
        if file.is_dir():
            raise ToolRetry(f"{self.show(file)!r} is a folder, not a file; use list_files.")
        if not file.is_file():
            raise ToolRetry(f"There is no file {self.show(file)!r}; use list_files to look.")
        try:
            size = file.stat().st_size
            with file.open("rb") as stream:
                data = stream.read(self.max_read_bytes + 1)
        except OSError as exc:
            raise ToolRetry(f"Could not read {self.show(file)!r}: {_reason(exc)}.") from None
        cut = len(data) > self.max_read_bytes
        data = data[: self.max_read_bytes]
        text = _text(data, cut)
        if text is None:
            raise ToolRetry(f"{self.show(file)!r} is not a UTF-8 text file; it cannot be read.")
        if cut:
            text += f"\n[Cut: showed the first {len(data)} of {size} bytes.]"
        return text

    def write_file(self, path: str, content: str) -> str:
        """Create or overwrite a text file with the given content (folders are created).

        Args:
            path: The file, relative to the working folder, e.g. "notes/todo.txt".
            content: The whole new text of the file.
        """
        try:
            data = content.encode("utf-8")
        except UnicodeEncodeError:
            raise ToolRetry("The content is not valid text (it has lone surrogates).") from None
        if len(data) > self.max_write_bytes:
            raise ToolRetry(
                f"The content is {len(data)} bytes; at most {self.max_write_bytes} can be "
                "written at once."
            )
        file = self.resolve(path)
        if file == self.root or file.is_dir():
            raise ToolRetry(f"{self.show(file)!r} is a folder; give a file name.")
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            self.resolve(path)  # again: the folders just made must not have changed the answer
            file.write_bytes(data)
        except OSError as exc:
            raise ToolRetry(f"Could not write {self.show(file)!r}: {_reason(exc)}.") from None
        return f"Wrote {len(data)} bytes to {self.show(file)}."

    # ----------------------------------------------------------------------- confinement

    def resolve(self, path: str) -> Path:
        """The real path `path` (relative to the root) leads to; `ToolRetry` if it leaves it."""
        if not path or "\x00" in path:
            raise ToolRetry("Give a path relative to the working folder, such as 'notes.txt'.")
        posix, windows = PurePosixPath(path), PureWindowsPath(path)
        if posix.is_absolute() or windows.is_absolute() or windows.drive or windows.root:
            raise ToolRetry(
                f"{path!r} is absolute; paths are relative to the working folder "
                "(use 'notes.txt', not '/notes.txt')."
            )
        if ".." in posix.parts or ".." in windows.parts:
            raise ToolRetry(f"{path!r} contains '..'; paths must stay inside the working folder.")
        real = (self.root / posix).resolve()
        if real != self.root and not real.is_relative_to(self.root):
            raise ToolRetry(f"{path!r} leads outside the working folder (a link); not allowed.")
        return real

    def show(self, path: Path) -> str:
        """`path` as the model knows it: relative to the root, with slashes."""
        return path.relative_to(self.root).as_posix() if path != self.root else "."

    def describe(self, entry: Path) -> str:
        """One line of a listing: `name/` for a folder, `name (N bytes)` for a file."""
        try:
            if entry.is_dir():
                return f"{entry.name}/"
            return f"{entry.name} ({entry.stat().st_size} bytes)"
        except OSError:  # a broken link, or one we may not follow
            return entry.name


def _reason(error: OSError) -> str:
    """What went wrong, without the absolute path the model need not see."""
    return (error.strerror or type(error).__name__).lower()


def _text(data: bytes, cut: bool) -> str | None:
    """`data` as UTF-8 text, or `None` if it is binary (a cut may split the last character)."""
    if b"\x00" in data:
        return None
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(data, final=not cut)
    except UnicodeDecodeError:
        return None


def file_tools(root: str | os.PathLike[str], **options: Any) -> list[Tool[..., str]]:
    """The file tools for `root` (see `FileTools` for the options).

    Examples:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as root:
        ...     [t.name for t in file_tools(root, writable=False)]
        ['list_files', 'read_file']
    """
    return FileTools(root, **options).tools
