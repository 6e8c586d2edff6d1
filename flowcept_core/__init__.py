"""flowcept_core: the engine behind the ``flowcept`` public API (settings, registry, capture, buffer, MQ, consumers).

Importing this package imports nothing else; modules are loaded when used.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
