"""The "flowcept" logger, configured once from the ``log`` settings section."""

from __future__ import annotations

import logging

__all__ = ["get_logger", "configure_logging"]

_LOGGER = logging.getLogger("flowcept")
_configured = False


def configure_logging(section: dict) -> None:
    """Attach stream/file handlers as ``log.log_stream_level`` / ``log.log_file_level`` ask. Called at first start."""
    global _configured
    if _configured:
        return
    _configured = True
    _LOGGER.propagate = True
    levels = []
    stream_level = str(section.get("log_stream_level", "error")).lower()
    if stream_level != "disable":
        h = logging.StreamHandler()
        h.setLevel(stream_level.upper())
        h.setFormatter(logging.Formatter("[flowcept][%(levelname)s] %(message)s"))
        _LOGGER.addHandler(h)
        levels.append(h.level)
    file_level = str(section.get("log_file_level", "disable")).lower()
    if file_level != "disable":
        path = section.get("log_path") or "default"
        if path == "default":
            path = "flowcept.log"
        fh = logging.FileHandler(path)
        fh.setLevel(file_level.upper())
        fh.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] %(threadName)s %(message)s"))
        _LOGGER.addHandler(fh)
        levels.append(fh.level)
    if levels:
        _LOGGER.setLevel(min(levels))
    else:  # both disabled: silence, including Python's last-resort stderr handler
        _LOGGER.addHandler(logging.NullHandler())
        _LOGGER.propagate = False


def get_logger() -> logging.Logger:
    """The shared logger; handlers are added by configure_logging()."""
    return _LOGGER
