"""The installed versions of packages, as the tables, saved models and checks record them."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_versions(names) -> dict[str, str | None]:
    """Installed version of each distribution in ``names`` (``"scikit-learn"``, ...); None for
    one that is not installed."""
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found
