"""Who is capturing right now, and which task is the parent of the next one.

``STATE.run`` is the active Run (None when no Flowcept with instrumentation is running): the hot path reads one
attribute. ``PARENT`` is a ContextVar holding the id of the task that is executing, so nested calls find their
parent; it follows asyncio tasks natively, and threads started (or pool jobs submitted) inside a task through
``propagate_context_to_threads()``, installed at the first Flowcept start.
"""

from __future__ import annotations

import contextvars
import threading
from contextvars import ContextVar

from flowcept_core.ids import format_id

TYPE_CHECKING = False  # typing is not imported at run time: it costs more than the rest of `import flowcept`
if TYPE_CHECKING:
    from typing import Any

__all__ = ["STATE", "PARENT", "push_run", "pop_run", "propagate_context_to_threads", "current_parent_id",
           "error_text"]


def error_text(e: BaseException) -> str:
    """How an exception is recorded in stderr: "Type: message"."""
    return f"{type(e).__name__}: {e}"


def _process_state() -> _State:
    """Called when unpickling a reference to the capture state: this process's STATE."""
    return STATE


class _State:
    __slots__ = ("run", "stack")

    def __init__(self) -> None:
        self.run: Any = None
        self.stack: list = []

    def __reduce__(self) -> tuple:
        """Pickles as a reference to the receiving process's own state (see flowcept_core.capture.portable)."""
        return _process_state, ()


STATE = _State()
PARENT: ContextVar = ContextVar("flowcept_parent_task", default=None)


def push_run(run: Any) -> None:
    """Make run the target of decorated calls (nested Flowcept blocks stack)."""
    STATE.stack.append(run)
    STATE.run = run


def pop_run(run: Any) -> None:
    """Remove run; the previous one (if any) becomes active again."""
    try:
        STATE.stack.remove(run)
    except ValueError:
        pass
    STATE.run = STATE.stack[-1] if STATE.stack else None


def current_parent_id() -> str | None:
    """The string id of the task currently executing in this context, or None."""
    p = PARENT.get()
    return format_id(p) if type(p) is int else p


_installed = False
_orig_thread_start = threading.Thread.start
_orig_submit: Any = None


def _thread_start(self: threading.Thread) -> None:
    if PARENT.get() is not None and not getattr(self, "_flowcept_ctx", None):
        ctx = contextvars.copy_context()
        run = self.run
        self._flowcept_ctx = ctx
        self.run = lambda: ctx.run(run)
    _orig_thread_start(self)


def _submit(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
    if PARENT.get() is not None:
        ctx = contextvars.copy_context()
        return _orig_submit(self, ctx.run, fn, *args, **kwargs)
    return _orig_submit(self, fn, *args, **kwargs)


def propagate_context_to_threads() -> None:
    """Let threads started and pool jobs submitted inside a task see that task as their parent. Idempotent.

    Only acts while a task is executing (PARENT set); other threads start exactly as before.
    """
    global _installed, _orig_submit
    if _installed:
        return
    _installed = True
    from concurrent.futures import ThreadPoolExecutor

    _orig_submit = ThreadPoolExecutor.submit
    threading.Thread.start = _thread_start  # type: ignore[method-assign]
    ThreadPoolExecutor.submit = _submit  # type: ignore[method-assign]
