"""Optuna studies kept in a journal file that several processes share, and the locks they take
turns with.

A study's workers (the ``study_worker`` jobs and the ``study`` job that gathers them) open the
same journal; Optuna's journal backend orders their writes with a lock, and the workers claim
their trials' places under a second one (:meth:`JournalStudy.claims`). Both are ``flock``\\s on
files beside the journal (:class:`FileLock`), which the kernel releases when a process dies.
What a study searches, and how places are claimed, is :mod:`auflow.study`'s.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

import optuna


class FileLock:
    """An exclusive ``flock`` on the file ``path`` (made if missing), which the kernel releases
    when its process dies: a killed job leaves no stale lock behind. Optuna's journal takes it
    as its write lock (``acquire``, ``release``); ``with`` holds it. Optuna's own write lock is
    a symlink beside the journal that a killed writer leaves behind; waiting processes force it
    open only after 30 s, and never when the journal's path is relative (the link dangles, and
    they retry at full speed for ever)."""

    def __init__(self, path: Path):
        self.path = path
        self.handle = None

    def acquire(self) -> bool:
        handle = open(self.path, "a")  # noqa: SIM115 - held until release
        fcntl.flock(handle, fcntl.LOCK_EX)
        self.handle = handle
        return True

    def release(self) -> None:
        handle, self.handle = self.handle, None
        if handle is not None:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exception) -> None:
        self.release()


def _beside(journal: str | Path, suffix: str) -> Path:
    """A lock file beside the journal: its name with ``suffix`` added."""
    return Path(journal).with_name(Path(journal).name + suffix)


class JournalStudy(optuna.Study):
    """An Optuna study kept in the journal file ``journal`` (:func:`open_journal_study`), which
    knows its journal: the lock its workers claim places with (:meth:`claims`) is found from
    it, not from Optuna's storage."""

    def __init__(self, journal: str | Path, name: str, storage, pruner=None):
        super().__init__(study_name=name, storage=storage, pruner=pruner)
        self.journal = Path(journal)

    def claims(self) -> FileLock:
        """The study's claims lock, a file beside its journal: one worker at a time picks a free
        place and asks for its trial (``with`` it)."""
        return FileLock(_beside(self.journal, ".claims"))


def open_journal_study(journal: str | Path, name: str, pruner=None) -> JournalStudy:
    """The study ``name`` (maximised) in the journal file ``journal``, created on first use.
    Several processes may open it at once: the journal's file lock orders their writes."""
    # Trial reports go to the rule's log file with everything else, not to the terminal.
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    Path(journal).parent.mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(
            str(journal), lock_obj=FileLock(_beside(journal, ".writes"))
        )
    )
    optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True)
    return JournalStudy(journal, name, storage, pruner)
