"""`list_files`, `read_file`, `write_file`: confined to the root, real paths, size caps."""

import os
import shutil
import time

import pytest
from agentkit_tools.files import FileTools, file_tools

from agentkit import ToolRetry, UsageError


@pytest.fixture
def outside(tmp_path):
    """A secret next to the root, which the tools must never reach."""
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "secret.txt").write_text("password=hunter2")
    return secret


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "root"
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "todo.txt").write_text("buy milk\n")
    (root / "readme.md").write_text("# Project\n")
    return root


@pytest.fixture
def files(root):
    return FileTools(root)


def test_list_files(files):
    """Folders end with a slash; files show their size; entries are sorted."""
    assert files.list_files() == "notes/\nreadme.md (10 bytes)"
    assert files.list_files("notes") == "todo.txt (9 bytes)"
    assert files.list_files("./notes/") == "todo.txt (9 bytes)"


def test_list_files_caps_and_empty_folders(root):
    for number in range(5):
        (root / f"many{number}.txt").write_text("x")
    (root / "empty").mkdir()
    files = FileTools(root, max_entries=3)
    assert files.list_files().splitlines()[-1] == "... and 5 more"
    assert files.list_files("empty") == "The folder 'empty' is empty."


def test_read_and_write(files, root):
    assert files.read_file("notes/todo.txt") == "buy milk\n"
    assert files.write_file("drafts/new/letter.txt", "Dear Ada,\n") == (
        "Wrote 10 bytes to drafts/new/letter.txt."
    )
    assert (root / "drafts" / "new" / "letter.txt").read_text() == "Dear Ada,\n"
    assert files.write_file("notes/todo.txt", "sell milk") == "Wrote 9 bytes to notes/todo.txt."
    assert files.read_file("notes/todo.txt") == "sell milk"


def test_unicode_is_counted_in_bytes(files, root):
    assert files.write_file("é.txt", "café ☕") == "Wrote 9 bytes to é.txt."
    assert files.read_file("é.txt") == "café ☕"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda f: f.read_file("missing.txt"), "There is no file 'missing.txt'; use list_files"),
        (lambda f: f.read_file("notes"), "'notes' is a folder, not a file"),
        (lambda f: f.list_files("readme.md"), "'readme.md' is a file, not a folder"),
        (lambda f: f.list_files("nowhere"), "There is no folder 'nowhere'"),
        (lambda f: f.write_file("notes", "x"), "'notes' is a folder; give a file name"),
        (lambda f: f.write_file(".", "x"), "'.' is a folder"),
        (lambda f: f.read_file(""), "Give a path relative to the working folder"),
        (lambda f: f.read_file("a\x00b"), "Give a path relative"),
    ],
)
def test_mistakes_ask_for_a_retry(files, call, message):
    with pytest.raises(ToolRetry, match=message):
        call(files)


# --------------------------------------------------------------------------- confinement

ESCAPES = [
    "../outside/secret.txt",
    "notes/../../outside/secret.txt",
    "..",
    "notes/..",  # even when it would land inside: '..' is refused outright
    "..\\outside\\secret.txt",
]


@pytest.mark.parametrize("path", ESCAPES)
@pytest.mark.parametrize("operation", ["list_files", "read_file", "write_file"])
def test_dot_dot_is_refused(files, outside, path, operation):
    arguments = (path, "pwned") if operation == "write_file" else (path,)
    with pytest.raises(ToolRetry, match=r"contains '\.\.'"):
        getattr(files, operation)(*arguments)
    assert (outside / "secret.txt").read_text() == "password=hunter2"


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "/", "C:\\Windows\\win.ini", "\\\\server\\share\\x", "C:x"]
)
@pytest.mark.parametrize("operation", ["list_files", "read_file", "write_file"])
def test_absolute_paths_are_refused(files, path, operation):
    arguments = (path, "pwned") if operation == "write_file" else (path,)
    with pytest.raises(ToolRetry, match="is absolute; paths are relative to the working folder"):
        getattr(files, operation)(*arguments)


def test_the_absolute_path_of_a_file_inside_is_refused_too(files, root):
    """Paths are always relative: even the real absolute path of a file in the root."""
    with pytest.raises(ToolRetry, match="is absolute"):
        files.read_file(str(root / "readme.md"))


def test_a_symlink_escaping_the_root_is_refused(files, root, outside):
    """A link to a file or a folder outside: no reading, listing or writing through it."""
    (root / "leak.txt").symlink_to(outside / "secret.txt")
    (root / "door").symlink_to(outside, target_is_directory=True)
    (root / "notes" / "deep").symlink_to("../../outside")  # relative links too
    for call in (
        lambda: files.read_file("leak.txt"),
        lambda: files.read_file("door/secret.txt"),
        lambda: files.read_file("notes/deep/secret.txt"),
        lambda: files.list_files("door"),
        lambda: files.write_file("leak.txt", "pwned"),
        lambda: files.write_file("door/new.txt", "pwned"),
    ):
        with pytest.raises(ToolRetry, match="leads outside the working folder"):
            call()
    assert (outside / "secret.txt").read_text() == "password=hunter2"
    assert sorted(os.listdir(outside)) == ["secret.txt"]


def test_a_dangling_symlink_pointing_out_cannot_be_written_through(files, root, tmp_path):
    (root / "trap.txt").symlink_to(tmp_path / "created-outside.txt")
    with pytest.raises(ToolRetry, match="leads outside"):
        files.write_file("trap.txt", "pwned")
    assert not (tmp_path / "created-outside.txt").exists()


def test_a_symlink_inside_the_root_is_followed(files, root):
    """Links that stay inside the root are fine."""
    (root / "latest.txt").symlink_to(root / "notes" / "todo.txt")
    (root / "shortcut").symlink_to("notes", target_is_directory=True)
    assert files.read_file("latest.txt") == "buy milk\n"
    assert files.read_file("shortcut/todo.txt") == "buy milk\n"
    assert files.list_files("shortcut") == "todo.txt (9 bytes)"
    assert files.write_file("shortcut/todo.txt", "eggs") == "Wrote 4 bytes to notes/todo.txt."


def test_the_root_may_itself_be_a_symlink(tmp_path, root):
    (tmp_path / "link-to-root").symlink_to(root, target_is_directory=True)
    files = FileTools(tmp_path / "link-to-root")
    assert files.read_file("readme.md") == "# Project\n"
    assert files.root == root.resolve()


# --------------------------------------------------------------------------- size and text


def test_reads_are_capped(root):
    (root / "big.log").write_text("0123456789" * 100)
    files = FileTools(root, max_read_bytes=25)
    assert files.read_file("big.log") == (
        "0123456789012345678901234\n[Cut: showed the first 25 of 1000 bytes.]"
    )


def test_a_cap_inside_a_character_drops_the_partial_character(root):
    (root / "accents.txt").write_text("ééé")  # 6 bytes
    files = FileTools(root, max_read_bytes=3)
    assert files.read_file("accents.txt").startswith("é\n[Cut: showed the first 3 of 6 bytes.]")


def test_writes_are_capped(root):
    files = FileTools(root, max_write_bytes=10)
    assert files.write_file("ok.txt", "x" * 10) == "Wrote 10 bytes to ok.txt."
    with pytest.raises(ToolRetry, match="The content is 11 bytes; at most 10"):
        files.write_file("big.txt", "x" * 11)
    with pytest.raises(ToolRetry, match="The content is 12 bytes"):
        files.write_file("big.txt", "☕☕☕☕")  # 4 characters, 12 bytes
    assert not (root / "big.txt").exists()


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n\x00\x00", b"\xff\xfe\xfa not utf-8"])
def test_binary_files_are_not_read(files, root, data):
    (root / "image.bin").write_bytes(data)
    with pytest.raises(ToolRetry, match="is not a UTF-8 text file"):
        files.read_file("image.bin")


def test_lone_surrogates_are_not_written(files):
    with pytest.raises(ToolRetry, match="not valid text"):
        files.write_file("bad.txt", "\ud800")


# --------------------------------------------------------------------------- as tools


def test_the_tools(root):
    """Three tools by default; read-only leaves out `write_file`; writes can need approval."""
    tools = file_tools(root)
    assert [t.name for t in tools] == ["list_files", "read_file", "write_file"]
    assert not tools[2].requires_approval
    assert [t.name for t in file_tools(root, writable=False)] == ["list_files", "read_file"]
    assert file_tools(root, approve_writes=True)[2].requires_approval
    read_file = tools[1]
    assert read_file.invoke(read_file.validate('{"path": "notes/todo.txt"}')) == "buy milk\n"
    assert "self" not in read_file.parameters["properties"]


def test_the_root_must_exist(tmp_path):
    with pytest.raises(UsageError, match="is not an existing directory"):
        FileTools(tmp_path / "nope")
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="is not an existing directory"):
        FileTools(tmp_path / "file")


def test_os_errors_become_texts_without_absolute_paths(files, root):
    """A file where a folder should be: the model gets the reason, not the root's path."""
    with pytest.raises(ToolRetry) as caught:
        files.write_file("readme.md/inside.txt", "x")
    assert caught.value.message.startswith("Could not write 'readme.md/inside.txt': ")
    assert str(root) not in caught.value.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_unreadable_files(files, root):
    (root / "locked.txt").write_text("x")
    (root / "locked.txt").chmod(0)
    with pytest.raises(ToolRetry, match=r"Could not read 'locked\.txt': permission denied"):
        files.read_file("locked.txt")


# --------------------------------------------------------------------------- under attack


def swapping(root, outside, stop):
    """Swap `root/swap` between a real folder and a link to `outside` until `stop` is set."""

    def force(step):  # a write may have made the missing folder meanwhile: remove it
        while True:
            try:
                return step()
            except OSError:
                shutil.rmtree(root / "swap", ignore_errors=True)

    swaps = 0
    while not stop.is_set():
        os.rename(root / "swap", root / "parked")
        force(lambda: os.symlink(outside, root / "swap"))
        os.unlink(root / "swap")
        force(lambda: os.rename(root / "parked", root / "swap"))
        swaps += 1
        time.sleep(0.0005)  # a moment inside, so that calls also succeed
    return swaps


def test_swapping_a_folder_for_a_link_never_reaches_outside(files, root, outside):
    """A process racing the tools, swapping a folder for a link out and back, makes calls
    fail at worst: no read returns the outside file, no write lands outside."""
    import concurrent.futures
    import threading

    (root / "swap").mkdir()
    (root / "swap" / "secret.txt").write_text("inside")
    stop = threading.Event()
    done = {"read_file": 0, "write_file": 0, "list_files": 0}
    refusals = []
    calls = [
        ("read_file", ("swap/secret.txt",), "inside"),
        ("write_file", ("swap/secret.txt", "inside"), "Wrote 6 bytes to swap/secret.txt."),
        ("list_files", ("swap",), "secret.txt (6 bytes)"),
    ]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        swapper = pool.submit(swapping, root, outside, stop)
        deadline = time.monotonic() + 2.0
        try:
            while time.monotonic() < deadline:
                for operation, arguments, expected in calls:
                    try:
                        answer = getattr(files, operation)(*arguments)
                        # Inside, anything goes (a write may have made a new, empty `swap`
                        # while the old one was away); the outside file is 16 bytes.
                        assert "hunter2" not in answer
                        assert "16 bytes" not in answer
                        done[operation] += answer == expected
                    except ToolRetry as refusal:
                        refusals.append(refusal.message)
        finally:
            stop.set()
        assert swapper.result() > 100
    assert sum(done.values()) > 0, done  # the probe ran both ways: successes and swaps
    assert not [message for message in refusals if str(root) in message]
    assert sorted(os.listdir(outside)) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "password=hunter2"


def test_swapping_a_file_for_a_link_never_reaches_outside(files, root, outside):
    """The same race on the last name: a file swapped for a link to the outside secret."""
    import threading

    stop = threading.Event()

    def swapping():
        while not stop.is_set():
            os.symlink(outside / "secret.txt", root / "link.tmp")
            os.replace(root / "link.tmp", root / "file.txt")
            (root / "file.tmp").write_text("inside")
            os.replace(root / "file.tmp", root / "file.txt")
            time.sleep(0.0005)

    thread = threading.Thread(target=swapping)
    thread.start()
    answers, refusals = set(), 0
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            for call in (lambda: files.read_file("file.txt"),
                         lambda: files.write_file("file.txt", "written")):  # fmt: skip
                try:
                    answers.add(call())
                except ToolRetry:
                    refusals += 1
    finally:
        stop.set()
        thread.join()
    assert "password=hunter2" not in answers
    assert "inside" in answers
    assert (outside / "secret.txt").read_text() == "password=hunter2"


def test_hard_links_are_neither_read_nor_written(files, root, outside):
    """A second name for a file outside the root is refused both ways."""
    os.link(outside / "secret.txt", root / "hard.txt")
    with pytest.raises(ToolRetry, match=r"'hard.txt' has 2 hard links .* cannot be read"):
        files.read_file("hard.txt")
    with pytest.raises(ToolRetry, match=r"'hard.txt' has 2 hard links .* cannot be overwritten"):
        files.write_file("hard.txt", "pwned")
    assert (outside / "secret.txt").read_text() == "password=hunter2"


@pytest.mark.timeout(10)
@pytest.mark.parametrize("operation", ["read_file", "write_file"])
def test_fifos_are_refused_without_blocking(files, root, operation):
    """A named pipe nobody writes to (or reads from) is refused at once, not waited on."""
    os.mkfifo(root / "pipe")
    arguments = ("pipe", "x") if operation == "write_file" else ("pipe",)
    with pytest.raises(ToolRetry, match=r"'pipe' is a FIFO \(named pipe\), not a text file"):
        getattr(files, operation)(*arguments)
    assert files.list_files() == "notes/\npipe (not a regular file)\nreadme.md (10 bytes)"
    with pytest.raises(ToolRetry, match=r"'pipe' is a FIFO \(named pipe\), not a folder"):
        files.list_files("pipe")


def test_sockets_and_devices_are_refused(files, root, tmp_path):
    import socket

    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(root / "sock"))
        with pytest.raises(ToolRetry, match="'sock' is a socket, not a text file"):
            files.write_file("sock", "x")
        with pytest.raises(ToolRetry, match="'sock' is a socket"):
            files.read_file("sock")
    (root / "null").symlink_to("/dev/null")  # a device reached through a link: outside anyway
    with pytest.raises(ToolRetry, match="leads outside"):
        files.read_file("null")


def test_writes_replace_the_file_atomically(files, root):
    """A write makes a new file and renames it over the old: the old inode is untouched (a
    reader holding it sees the old text), the mode is kept, no temporary file is left."""
    target = root / "notes" / "todo.txt"
    target.chmod(0o640)
    with open(target) as reader:
        files.write_file("notes/todo.txt", "new text")
        assert reader.read() == "buy milk\n"
    assert target.read_text() == "new text"
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(os.listdir(root / "notes")) == ["todo.txt"]


def test_a_write_through_a_link_inside_replaces_the_target(files, root):
    (root / "latest.txt").symlink_to("notes/todo.txt")
    assert files.write_file("latest.txt", "eggs") == "Wrote 4 bytes to notes/todo.txt."
    assert (root / "latest.txt").is_symlink()
    assert (root / "notes" / "todo.txt").read_text() == "eggs"


def test_links_are_listed_as_links_not_followed(files, root, outside):
    """A listing never looks through a link: where it leads may be outside."""
    (root / "door").symlink_to(outside)
    assert files.list_files() == "door (a link)\nnotes/\nreadme.md (10 bytes)"


def assert_clean(refusal, tmp_path):
    assert str(tmp_path) not in refusal.message
    assert not refusal.message.startswith("/")


@pytest.mark.parametrize("operation", ["list_files", "read_file", "write_file"])
def test_link_loops_are_refused(files, root, tmp_path, operation):
    (root / "a").symlink_to("b")
    (root / "b").symlink_to("a")
    (root / "self").symlink_to("self/x")
    for path in ("a", "self/y"):
        arguments = (path, "x") if operation == "write_file" else (path,)
        with pytest.raises(ToolRetry, match="goes through too many links") as caught:
            getattr(files, operation)(*arguments)
        assert_clean(caught.value, tmp_path)


@pytest.mark.parametrize("operation", ["list_files", "read_file", "write_file"])
def test_names_too_long_for_the_file_system(files, tmp_path, operation):
    path = "x" * 300 + "/file.txt"
    arguments = (path, "x") if operation == "write_file" else (path,)
    with pytest.raises(ToolRetry, match=r"^Could not \w+ 'x{200}\.\.\.': file name too long"):
        getattr(files, operation)(*arguments)


@pytest.mark.parametrize("operation", ["list_files", "read_file", "write_file"])
def test_lone_surrogates_in_a_path_are_refused(files, operation):
    arguments = ("\udc80.txt", "x") if operation == "write_file" else ("\udc80.txt",)
    with pytest.raises(ToolRetry, match="The path is not valid text"):
        getattr(files, operation)(*arguments)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("a" * 500_000, r"The path is too long \(500000 bytes, at most 4096\)"),
        ("é" * 3000, r"The path is too long \(6000 bytes"),
        ("a/" * 65, r"The path is too deep \(65 names, at most 64\)"),
        ("../" * 100_000, "The path is too long"),
    ],
)
@pytest.mark.parametrize("operation", ["list_files", "read_file", "write_file"])
def test_long_and_deep_paths_are_refused_before_any_work(files, root, path, message, operation):
    """Refused quickly, and nothing is made on the way."""

    arguments = (path, "x") if operation == "write_file" else (path,)
    started = time.process_time()
    with pytest.raises(ToolRetry, match=message):
        getattr(files, operation)(*arguments)
    assert time.process_time() - started < 0.5
    assert sorted(os.listdir(root)) == ["notes", "readme.md"]


def test_sixty_four_folders_deep_is_fine(files):
    path = "d/" * 63 + "f.txt"
    assert files.write_file(path, "deep") == f"Wrote 4 bytes to {path}."
    assert files.read_file(path) == "deep"


def test_a_replaced_root_is_refused(tmp_path, root):
    files = FileTools(root)
    root.rename(tmp_path / "moved")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere").rename(root)
    with pytest.raises(ToolRetry, match="The working folder was replaced"):
        files.read_file("readme.md")


def test_undecodable_file_names_are_shown_as_text(files, root):
    os.mkdir(os.path.join(os.fsencode(root), b"caf\xe9"))
    assert files.list_files() == "caf\ufffd/\nnotes/\nreadme.md (10 bytes)"


def test_a_name_cannot_fake_lines_of_a_listing(files, root):
    (root / "a\nsecret.txt (5 bytes)").write_text("x")
    assert files.list_files() == (
        "'a\\nsecret.txt (5 bytes)' (1 bytes)\nnotes/\nreadme.md (10 bytes)"
    )
