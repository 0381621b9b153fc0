"""Temporary files: where they live, how one becomes an output, and how leftovers are removed.

Two kinds. An output's own temporary lies hidden next to it (``.<name>.<pid>.<random>.tmp``)
so that it becomes the output by a rename within one file system (``publish``). Scratch files
(the 44.1 kHz copy of an input that the post-steps read) go to one folder a user can find,
``scratch_dir()``: ``$REENCODER_TMPDIR``, else ``reencoder`` in the system's temporary folder
(``$TMPDIR``, else /tmp). Both are removed when a job fails or is interrupted (Ctrl-C,
SIGTERM, SIGHUP); a process killed with -9 leaves them, and they are removed by the next run
that writes into the same folder or uses the scratch folder, since their pid is gone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from reencoder_cli.errors import OutputError, OutputExists

SCRATCH_ENV = "REENCODER_TMPDIR"


def scratch_dir() -> Path:
    """The folder for scratch files (created, stale files of dead processes removed).

    Raises:
        OutputError: it cannot be created.
    """
    folder = Path(os.environ.get(SCRATCH_ENV) or Path(tempfile.gettempdir()) / "reencoder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"scratch folder {folder}: cannot create it ({exc.strerror}); set {SCRATCH_ENV}") from None
    remove_stale_temporaries(folder)
    return folder


def hidden_temporary(folder: str | os.PathLike[str], name: str) -> str:
    """Create an empty hidden file ``.<name>.<pid>.<random>.tmp`` in ``folder``; return its path.

    Raises:
        OutputError: the folder is missing or not writable (read-only, full).
    """
    try:
        fd, path = tempfile.mkstemp(dir=folder, prefix=f".{name}.{os.getpid()}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"{name}: cannot write a temporary file in {folder} ({exc.strerror})") from None
    os.close(fd)
    return path


def publish(tmp: str, path: str, overwrite: bool) -> None:
    """Turn the finished temporary ``tmp`` into ``path``, with the permissions of a new file (umask).

    Without ``overwrite`` nothing is ever replaced, even a file that appeared at ``path``
    while ``tmp`` was being written (another process, another batch): the temporary is
    hard-linked to ``path``, which fails if it exists, then unlinked. On a file system
    without hard links the check and the rename are separate steps.

    Raises:
        OutputExists: ``path`` exists (without ``overwrite``).
        OutputError: the rename failed.
    """
    exists = OutputExists(f"{path}: exists (use --overwrite to replace it or --skip-existing)")
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        if overwrite:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise exists from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
                raise
            if os.path.lexists(path):  # no hard links here
                raise exists from None
            os.rename(tmp, path)
            return
        os.unlink(tmp)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> int:
    """Delete temporary files left in ``folder`` by processes that no longer exist (killed with -9).

    Temporary names are ``.<name>.<pid>.<random>.tmp``; files of live processes (another
    batch writing into the same folder) are left alone. Returns how many were removed.
    """
    removed = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            parts = entry.name.split(".")
            if not (entry.name.startswith(".") and entry.name.endswith(".tmp") and len(parts) >= 4):
                continue
            pid = parts[-3]
            if pid.isdigit() and not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    os.remove(entry.path)
                    removed += 1
    return removed


def _alive(pid: int) -> bool:
    """Whether a process with this id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
