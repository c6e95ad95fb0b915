"""Atomic file writes: write to a temporary file in the same folder, then rename it over the target.

``os.replace`` is atomic on one file system, so a reader (or a later run) sees either the old
file or the complete new one, never half of it, even if the writer is killed midway. A write
that fails (a full disk, Ctrl-C, an exception) deletes its temporary file and leaves the old
file as it was. A writer killed by SIGKILL cannot clean up: it may leave a hidden
``.NAME.XXXX.tmp`` file beside the target, which is never read and may be deleted.
"""

import contextlib
import os
import stat
import tempfile


def _new_file_mode(path):
    """The permissions the target should get: those of the file it replaces, or what ``open``
    would give a new file (0o666 minus the umask; ``mkstemp`` itself makes files 0o600)."""
    with contextlib.suppress(OSError):
        return stat.S_IMODE(os.stat(path).st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_folder(folder):
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success rename it to ``path``, else delete it."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _new_file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    _fsync_folder(folder)


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """Open a temporary file beside ``path`` for writing; once the block ends without an error
    the bytes are flushed, fsync'ed and the file renamed over ``path``."""
    with atomic_path(path) as tmp, open(tmp, mode) as file:
        yield file
        file.flush()
        os.fsync(file.fileno())  # the bytes are on disk before the rename makes them live


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` atomically (fsync before the rename)."""
    with atomic_open(path, "wb") as file:
        file.write(data)
