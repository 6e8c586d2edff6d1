from flowcept_core import __version__  # noqa: F401
