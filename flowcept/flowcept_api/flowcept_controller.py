from flowcept_core.controller import Flowcept  # noqa: F401
