"""Who is capturing right now, and which task is the parent of the next one.

``STATE.run`` is the active Run (None when no Flowcept with instrumentation is running): the hot path reads one
attribute. ``PARENT`` is a ContextVar holding the id of the task that is executing, so nested calls find their
parent; it follows asyncio tasks natively, and threads started (or pool jobs submitted) inside a task through
``propagate_context_to_threads()``, installed at the first Flowcept start.
"""

from __future__ import annotations

import contextvars
import sys
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
    global _installed
    if _installed:
        return
    _installed = True
    threading.Thread.start = _thread_start  # type: ignore[method-assign]
    pool = sys.modules.get("concurrent.futures.thread")
    if pool is not None:
        _patch_pool(pool)
    else:  # not imported yet (importing it costs start() a few ms): patched when something imports it
        sys.meta_path.insert(0, _PoolImportHook())


def _patch_pool(module: Any) -> None:
    global _orig_submit
    executor = module.ThreadPoolExecutor
    if executor.submit is not _submit:
        _orig_submit = executor.submit
        executor.submit = _submit  # type: ignore[method-assign]


class _PoolImportHook:
    """A meta path finder that only watches for concurrent.futures.thread: the module is loaded as usual by the
    other finders, then ThreadPoolExecutor.submit is wrapped (see propagate_context_to_threads). Removes itself."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "concurrent.futures.thread":
            return None
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass
        import importlib.util

        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader

        class _Loader:
            def create_module(self, spec: Any) -> Any:
                return loader.create_module(spec)

            def exec_module(self, module: Any) -> None:
                loader.exec_module(module)
                _patch_pool(module)

        spec.loader = _Loader()
        return spec
