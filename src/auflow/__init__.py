"""auflow: face images with FACS Action Unit labels to features, detectors and honest metrics."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("auflow")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
