"""What the workflow checks while it is parsed, once per configuration and code
(:func:`check_once`), and the hash of a configuration that results record (:func:`config_hash`)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path


def config_hash(config: dict) -> str:
    """SHA-256 (first 16 hex digits) of the effective configuration, defaults filled in."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def check_once(check: Callable[[], None], checked: dict, stamps: str | Path) -> bool:
    """Run ``check()`` unless it passed before on the same ``checked`` values and code.

    ``check`` raises when ``checked`` (JSON-able) is wrong, and what it finds depends on nothing
    else than ``checked``, auflow's own source files and the versions of auflow's dependencies.
    When it passes, a file named by the hash of all of these is left in ``stamps``; while that
    file exists, the same check is not run again. Returns whether ``check`` ran.
    """
    import hashlib
    import json
    from importlib.metadata import PackageNotFoundError, requires

    from auflow.versions import package_versions

    try:
        dependencies = {re.match(r"[A-Za-z0-9_.-]+", r).group(0) for r in requires("auflow") or []}
    except PackageNotFoundError:  # a source tree that is not installed: nothing to key on
        check()
        return True
    versions = package_versions(sorted(dependencies))
    digest = hashlib.sha256(
        json.dumps([checked, versions, sys.version], sort_keys=True, default=str).encode()
    )
    package = Path(__file__).parent
    for source in sorted(package.rglob("*.py")):
        digest.update(str(source.relative_to(package)).encode() + b"\0" + source.read_bytes())
    stamp = Path(stamps) / digest.hexdigest()
    if stamp.exists():
        return False
    check()
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()
    except OSError:  # a read-only working directory: check again next time
        pass
    return True
