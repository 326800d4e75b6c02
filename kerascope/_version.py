"""The package version, importable from every floor without the lazy face."""

__version__ = "0.1.0"
