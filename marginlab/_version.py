"""The package version, on the lowest floor (modules that record it import this, not the package's top level)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("marginlab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"
