"""Files written so that no reader, and no re-run after a crash, ever sees half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def replaced_atomically(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary file beside ``path`` to write; renamed onto ``path`` when the block ends.

    If the block raises (or the process is interrupted by an exception), the temporary file is
    removed and ``path`` is left as it was. The file gets the permissions an ordinary ``open``
    would give it (0666 less the umask), not the owner-only 0600 of ``tempfile.mkstemp``, so
    results on a shared filesystem stay readable by the group as usual. A process killed by a
    signal can leave the hidden temporary file (``.<name>.<random><suffix>``) behind; no reader
    takes it for ``path``.

    Parameters
    ----------
    path : the destination.
    suffix : of the temporary name (a writer that insists on an extension, e.g. Keras' ``.keras``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomically(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`replaced_atomically`."""
    with replaced_atomically(path) as tmp:
        tmp.write_bytes(data)
