"""Upstream path, provided by a plugin distribution; without it, importing this says which one to install."""

from flowcept_core.plugin_exports import export_module

globals().update(export_module(__name__))
