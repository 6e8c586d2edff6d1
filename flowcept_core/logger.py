"""The "flowcept" logger, configured once from the ``log`` settings section (logging is imported on first use)."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: it costs more than the rest of `import flowcept`
if TYPE_CHECKING:
    from typing import Any


__all__ = ["get_logger", "configure_logging"]

_logger: Any = None
_configured = False
_deferred: dict | None = None  # a log section whose handlers are attached when the logger is first needed


def get_logger() -> Any:
    """The shared logging.Logger named "flowcept"; handlers are added by configure_logging()."""
    global _logger, _deferred
    if _logger is None:
        import logging

        _logger = logging.getLogger("flowcept")
        _logger.addHandler(logging.NullHandler())  # a library prints nothing until configured (or the app does)
        if _deferred is not None:
            section, _deferred = _deferred, None
            _configure(section)
    return _logger


def configure_logging(section: dict) -> None:
    """Attach stream/file handlers as ``log.log_stream_level`` / ``log.log_file_level`` ask. Called at first start.

    Without a log file, nothing is done until something is logged (``logging`` is not imported by start())."""
    global _configured, _deferred
    if _configured:
        return
    _configured = True
    if _logger is None and str(section.get("log_file_level", "disable")).lower() == "disable":
        _deferred = dict(section)
        return
    _configure(section)


def _configure(section: dict) -> None:
    import logging

    logger = get_logger()
    levels = []
    stream_level = str(section.get("log_stream_level", "error")).lower()
    if stream_level != "disable":
        h = logging.StreamHandler()
        h.setLevel(stream_level.upper())
        h.setFormatter(logging.Formatter("[flowcept][%(levelname)s] %(message)s"))
        logger.addHandler(h)
        levels.append(h.level)
    file_level = str(section.get("log_file_level", "disable")).lower()
    if file_level != "disable":
        path = section.get("log_path") or "default"
        if path == "default":
            path = "flowcept.log"
        fh = logging.FileHandler(path)
        fh.setLevel(file_level.upper())
        fh.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] %(threadName)s %(message)s"))
        logger.addHandler(fh)
        levels.append(fh.level)
    if levels:
        logger.setLevel(min(levels))
    else:  # both disabled: silence, including Python's last-resort stderr handler
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
