"""`list_files`, `read_file` and `write_file`, confined to one root directory.

Every path the model gives is relative to the root. It is refused when it is absolute,
contains `..`, is longer than `MAX_PATH_BYTES` or deeper than `MAX_PATH_PARTS`, or leads out
of the root through a symbolic link (a link inside the root to a file inside the root is
fine). Reads and writes are UTF-8 text only and capped in size.

No path is ever handed to the operating system whole. The tools walk it one name at a time
from a handle on the root, opening each folder with `O_NOFOLLOW` relative to the one before
(`openat`); a link met on the way is read and its target walked the same way, from handles
already held. Swapping a folder for a link while the agent runs can therefore make a call
fail, never reach outside. Files with more than one hard link, FIFOs, sockets and devices
are refused; a write goes to a new file in the target folder, renamed over the old one
(atomic: readers see the old text or the new, never half of it).

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
import contextlib
import errno
import heapq
import os
import secrets
import stat
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from agentkit import Tool, ToolRetry, UsageError, tool

__all__ = [
    "MAX_ENTRIES",
    "MAX_PATH_BYTES",
    "MAX_PATH_PARTS",
    "MAX_READ_BYTES",
    "MAX_WRITE_BYTES",
    "FileTools",
    "file_tools",
]

MAX_READ_BYTES = 200_000
"""Default cap on what `read_file` returns; a longer file is cut, with a note."""

MAX_WRITE_BYTES = 1_000_000
"""Default cap on what `write_file` accepts."""

MAX_ENTRIES = 200
"""Default cap on the entries `list_files` shows."""

MAX_PATH_BYTES = 4096
"""Longest path accepted (UTF-8 bytes), checked before any file system work."""

MAX_PATH_PARTS = 64
"""Most names (folders and the file) in one path."""

_MAX_LINKS = 40  # links followed in one path, as Linux's own limit (a loop ends here)
_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)  # POSIX only
_DIR: int = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW
_FILE: int = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | _NOFOLLOW  # a FIFO must not block
_NEW: int = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW


@dataclass(frozen=True)
class _Found:
    """Where a path leads: a name in an open folder (`"."` for the folder itself)."""

    folder: int
    name: str
    shown: str


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
        UsageError: `root` is not an existing directory, or the platform cannot open files
            relative to a directory handle (Windows).
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
        needed = (os.open in os.supports_dir_fd, os.scandir in os.supports_fd)
        if not all(needed) or not hasattr(os, "O_NOFOLLOW"):
            raise UsageError(
                "FileTools needs to open files relative to a directory handle (openat), "
                "which this platform lacks; it works on Linux, macOS and the BSDs."
            )
        path = Path(root)
        if not path.is_dir():
            raise UsageError(f"FileTools: the root {str(root)!r} is not an existing directory.")
        self.root = path.resolve(strict=True)
        # Absolute link targets naming the root either way stay inside it.
        self._root_names = tuple(dict.fromkeys((str(self.root), os.path.abspath(root))))
        info = self.root.stat()
        self._root_id = (info.st_dev, info.st_ino)
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
        with self._errors("list", path), self._locate(path, "list") as found:
            info = _lstat(found)
            if info is None:
                raise ToolRetry(f"There is no folder {found.shown!r}; try list_files('.').")
            if stat.S_ISREG(info.st_mode):
                raise ToolRetry(f"{found.shown!r} is a file, not a folder; use read_file.")
            if not stat.S_ISDIR(info.st_mode):
                kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
                raise ToolRetry(f"{found.shown!r} is {kind}, not a folder.")
            folder = _open(found, _DIR)
            try:
                with os.scandir(folder) as listing:
                    total = 0

                    def counted() -> Iterator[os.DirEntry[str]]:
                        nonlocal total
                        for entry in listing:
                            total += 1
                            yield entry

                    # The first entries by name, without holding a huge folder's every entry.
                    first = heapq.nsmallest(self.max_entries, counted(), key=lambda e: e.name)
                    # Described while the folder is open: `entry.stat` looks it up in it.
                    lines = [_describe(entry) for entry in first]
            finally:
                os.close(folder)
        if not total:
            return f"The folder {found.shown!r} is empty."
        if total > self.max_entries:
            lines.append(f"... and {total - self.max_entries} more")
        return "\n".join(lines)

    def read_file(self, path: str) -> str:
        """Read a text file and return its contents.

        Args:
            path: The file, relative to the working folder, e.g. "notes/todo.txt".
        """
        with self._errors("read", path), self._locate(path, "read") as found:
            info = _lstat(found)
            if info is not None and stat.S_ISDIR(info.st_mode):
                raise ToolRetry(f"{found.shown!r} is a folder, not a file; use list_files.")
            if info is None:
                raise ToolRetry(f"There is no file {found.shown!r}; use list_files to look.")
            _check_regular(info, found.shown, "read")
            file = _open(found, _FILE)
            try:
                info = os.fstat(file)  # what was opened, not what was looked at
                _check_regular(info, found.shown, "read")
                data = _read(file, self.max_read_bytes + 1)
            finally:
                os.close(file)
        cut = len(data) > self.max_read_bytes
        data = data[: self.max_read_bytes]
        text = _text(data, cut)
        if text is None:
            raise ToolRetry(f"{found.shown!r} is not a UTF-8 text file; it cannot be read.")
        if cut:
            text += f"\n[Cut: showed the first {len(data)} of {info.st_size} bytes.]"
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
        with self._errors("write", path), self._locate(path, "write", make_folders=True) as found:
            info = _lstat(found)
            if found.name == "." or (info is not None and stat.S_ISDIR(info.st_mode)):
                raise ToolRetry(f"{found.shown!r} is a folder; give a file name.")
            if info is not None:
                _check_regular(info, found.shown, "overwritten")
            _replace(found, data, None if info is None else stat.S_IMODE(info.st_mode))
        return f"Wrote {len(data)} bytes to {found.shown}."

    # ----------------------------------------------------------------------- confinement

    def _parts(self, path: str) -> list[str]:
        """The names of `path`, once its form is checked: `ToolRetry` if it may not be used.

        Examples:
            >>> FileTools(".")._parts("notes/./todo.txt")
            ['notes', 'todo.txt']
        """
        if not path or "\x00" in path:
            raise ToolRetry("Give a path relative to the working folder, such as 'notes.txt'.")
        try:
            size = len(path.encode("utf-8"))
        except UnicodeEncodeError:
            raise ToolRetry(
                "The path is not valid text (it has lone surrogates); give the path as text."
            ) from None
        if size > MAX_PATH_BYTES:
            raise ToolRetry(f"The path is too long ({size} bytes, at most {MAX_PATH_BYTES}).")
        names = [name for name in path.split("/") if name not in ("", ".")]
        if len(names) > MAX_PATH_PARTS:
            raise ToolRetry(f"The path is too deep ({len(names)} names, at most {MAX_PATH_PARTS}).")
        shown = _cut(path)
        posix, windows = PurePosixPath(path), PureWindowsPath(path)
        if posix.is_absolute() or windows.is_absolute() or windows.drive or windows.root:
            raise ToolRetry(
                f"{shown!r} is absolute; paths are relative to the working folder "
                "(use 'notes.txt', not '/notes.txt')."
            )
        if ".." in names or ".." in windows.parts:
            raise ToolRetry(f"{shown!r} contains '..'; paths must stay inside the working folder.")
        return names

    @contextlib.contextmanager
    def _locate(self, path: str, verb: str, *, make_folders: bool = False) -> Iterator[_Found]:
        """Walk `path` from the root, one name at a time, and yield where it leads.

        Each folder is opened with `O_NOFOLLOW` relative to the one before; a link is read
        and its target walked from the folders already open (its `..` steps back up this
        chain, never past the root). The last name is not opened: the caller does that, with
        `O_NOFOLLOW`, so a link swapped in after the walk fails the call instead of being
        followed. The folders are closed when the block ends.
        """
        folders = [self._open_root()]
        try:
            yield self._walk(path, verb, folders, make_folders)
        finally:
            for folder in folders:
                os.close(folder)

    def _walk(self, path: str, verb: str, folders: list[int], make_folders: bool) -> _Found:
        pending = deque(self._parts(path))
        shown: list[str] = []
        links = 0
        while pending:
            name = pending.popleft()
            if name in ("", "."):
                continue
            if name == "..":  # only ever from a link's target
                if not shown:
                    raise self._outside(path)
                os.close(folders.pop())
                shown.pop()
                continue
            target = _readlink(name, folders[-1])
            if target is not None:
                links += 1
                if links > _MAX_LINKS:
                    raise ToolRetry(f"{_cut(path)!r} goes through too many links (a loop?).")
                if target.startswith("/"):
                    target = self._inside(target, path)
                    while len(folders) > 1:
                        os.close(folders.pop())
                    shown.clear()
                pending.extendleft(reversed(target.split("/")))
                continue
            if not pending:
                return _Found(folders[-1], name, _printable("/".join([*shown, name])))
            place = _printable("/".join([*shown, name]))
            try:
                folder = _open_folder(name, folders[-1], make_folders)
            except FileNotFoundError:
                raise ToolRetry(f"There is no folder {place!r}; use list_files to look.") from None
            except NotADirectoryError:
                raise ToolRetry(
                    f"Could not {verb} {_cut(path)!r}: {place!r} is no folder."
                ) from None
            if folder is None:  # a link swapped in since `_readlink`: look again
                pending.appendleft(name)
                links += 1
                continue
            folders.append(folder)
            shown.append(name)
        return _Found(folders[-1], ".", _printable("/".join(shown) or "."))

    def _open_root(self) -> int:
        try:
            folder = os.open(self.root, _DIR)
        except OSError:
            raise ToolRetry("The working folder is gone; ask the user about it.") from None
        info = os.fstat(folder)
        if (info.st_dev, info.st_ino) != self._root_id:
            os.close(folder)
            raise ToolRetry("The working folder was replaced; ask the user about it.")
        return folder

    def _inside(self, target: str, path: str) -> str:
        """An absolute link target as a path relative to the root, if it names a place in it."""
        for root in self._root_names:
            if target == root or target.startswith(root.rstrip("/") + "/"):
                return target[len(root) :]
        raise self._outside(path)

    @staticmethod
    def _outside(path: str) -> ToolRetry:
        return ToolRetry(f"{_cut(path)!r} leads outside the working folder (a link); not allowed.")

    @staticmethod
    @contextlib.contextmanager
    def _errors(verb: str, path: str) -> Iterator[None]:
        """Any other OS error as a `ToolRetry` that names `path` as the model gave it."""
        try:
            yield
        except OSError as exc:
            raise ToolRetry(f"Could not {verb} {_cut(path)!r}: {_reason(exc)}.") from None


# --------------------------------------------------------------------------- the steps


def _readlink(name: str, folder: int) -> str | None:
    """The target of the link `name` in `folder`, or `None` if it is no link (or missing)."""
    try:
        return os.readlink(name, dir_fd=folder)
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.ENOENT):
            return None
        raise


def _open_folder(name: str, folder: int, make: bool) -> int | None:
    """`name` in `folder`, opened without following a link (`None` if it is one now)."""
    try:
        return os.open(name, _DIR, dir_fd=folder)
    except FileNotFoundError:
        if not make:
            raise
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and _readlink(name, folder) is not None:
            return None
        raise
    with contextlib.suppress(FileExistsError):  # made meanwhile by someone else: fine
        os.mkdir(name, dir_fd=folder)
    return _open_folder(name, folder, make=False)


def _lstat(found: _Found) -> os.stat_result | None:
    try:
        return os.stat(found.name, dir_fd=found.folder, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _open(found: _Found, flags: int) -> int:
    try:
        return os.open(found.name, flags, dir_fd=found.folder)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ToolRetry(f"{found.shown!r} changed while it was opened; try again.") from None
        raise


def _check_regular(info: os.stat_result, shown: str, verb: str) -> None:
    """Refuse what is not a plain file of its own: FIFOs, sockets, devices, hard links."""
    if not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise ToolRetry(f"{shown!r} is {kind}, not a text file; it cannot be {verb}.")
    if info.st_nlink > 1:
        raise ToolRetry(
            f"{shown!r} has {info.st_nlink} hard links (it may be a file outside the working "
            f"folder under another name); it cannot be {verb}."
        )


_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
    stat.S_IFLNK: "a link",
}


def _read(file: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(file, min(limit - size, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _replace(found: _Found, data: bytes, mode: int | None) -> None:
    """Write `data` to a new file beside `found` and rename it over `found` (atomic)."""
    temporary = f".{secrets.token_hex(8)}.agentkit-tmp"
    file = os.open(temporary, _NEW, 0o666, dir_fd=found.folder)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(file, view) :]
            if mode is not None:
                os.fchmod(file, mode)
            os.fsync(file)
        finally:
            os.close(file)
        os.replace(temporary, found.name, src_dir_fd=found.folder, dst_dir_fd=found.folder)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=found.folder)
        raise


def _describe(entry: os.DirEntry[str]) -> str:
    """One line of a listing: `name/` for a folder, `name (N bytes)` for a file.

    Links are shown as links, never followed: where one leads may be outside the root.
    """
    name = _printable(entry.name)
    try:
        if entry.is_symlink():
            return f"{name} (a link)"
        if entry.is_dir(follow_symlinks=False):
            return f"{name}/"
        if entry.is_file(follow_symlinks=False):
            return f"{name} ({entry.stat(follow_symlinks=False).st_size} bytes)"
    except OSError:  # gone meanwhile
        return name
    return f"{name} (not a regular file)"


def _printable(name: str) -> str:
    """A file name as one line of valid text.

    Bytes that are not UTF-8 become U+FFFD; a name with control characters (a line break
    could fake more entries of a listing) is shown quoted, with escapes.
    """
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        return repr(text)
    return text


def _cut(path: str) -> str:
    """A path to show the model: at most 200 characters of it."""
    return path if len(path) <= 200 else path[:200] + "..."


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
