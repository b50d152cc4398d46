"""Files written so that no reader, and no re-run after a crash, ever sees half of one."""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# what flock raises where the filesystem has no locks
_NO_LOCKS = (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def replaced_atomically(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary file beside ``path`` to write; renamed onto ``path`` when the block ends.

    If the block raises (or the process is interrupted by an exception), the temporary file is
    removed and ``path`` is left as it was. The file gets the permissions an ordinary ``open``
    would give it (0666 less the umask), not an owner-only 0600, so results on a shared
    filesystem stay readable by the group as usual.

    The temporary file is ``.<name><suffix>`` beside ``path``, one name per destination, so a
    writer killed by a signal (SIGKILL, a lost node) leaves at most that one hidden file, which
    no reader takes for ``path`` and which the next write of ``path`` (the job's re-run) takes
    over and renames away. A writer holds an ``flock`` on it until the rename (the kernel drops
    it when the writer dies), so a second writer of the same file waits instead of writing into
    the first one's.

    Parameters
    ----------
    path : the destination.
    suffix : of the temporary name (a writer that insists on an extension, e.g. Keras' ``.keras``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{suffix}")
    fd = _locked(tmp)
    try:
        os.ftruncate(fd, 0)  # what a killed writer left
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


def _locked(tmp: Path) -> int:
    """A descriptor of the file ``tmp`` (made if missing), flocked by us, still at that name."""
    while True:
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as error:
            if error.errno not in _NO_LOCKS:
                os.close(fd)
                raise
            return fd  # a filesystem without flock (Lustre's noflock): one writer a file, as ever
        try:
            if os.path.samestat(os.fstat(fd), os.stat(tmp)):
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the writer we waited for renamed or removed it: take a fresh one


def write_bytes_atomically(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`replaced_atomically`."""
    with replaced_atomically(path) as tmp:
        tmp.write_bytes(data)
