"""Process-level lifecycle of started Flowcepts: stopped at exit (atexit), and SIGTERM turned into an exit through
atexit so what they captured is delivered."""

from __future__ import annotations

import atexit
import threading

from flowcept_core.logger import get_logger
from flowcept_core.runtime import RUNTIME

TYPE_CHECKING = False  # typing is not imported at run time: it costs more than the rest of `import flowcept`
if TYPE_CHECKING:
    from typing import Any

__all__ = ["_started", "_stop_on_sigterm", "_stop_forgotten"]

_started = RUNTIME.started  # strong refs: a started Flowcept nobody holds must still be stopped at exit


def _stop_on_sigterm() -> None:
    """Make SIGTERM (what job schedulers and kill send) exit through atexit, so running Flowcepts are stopped and
    nothing captured is lost. Installed only from the main thread and only over the default action."""
    import _signal  # what the signal module wraps (importing signal builds its enums: ~2 ms of start())

    if threading.current_thread() is not threading.main_thread():
        return
    try:
        current = _signal.getsignal(_signal.SIGTERM)
        if type(current) is int and current == _signal.SIG_DFL:
            _signal.signal(_signal.SIGTERM, _exit_on_sigterm)
    except (ValueError, OSError):  # not supported here (e.g. an embedded interpreter)
        pass


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    import sys

    for fc in list(_started):  # the workflows did not finish: say so in their records
        fc._error = fc._error or f"terminated by signal {signum} (SIGTERM)"
    sys.exit(128 + signum)


@atexit.register
def _stop_forgotten() -> None:
    """A Flowcept started and never stopped is stopped at exit, so its messages are delivered and dumped."""
    for fc in list(_started):
        try:
            fc.stop()
        except Exception as e:
            get_logger().error(f"stopping Flowcept at exit failed: {e}")
