"""Fails at import, like a plugin whose third-party dependency is not installed."""

raise ImportError("fixture: missing dependency xyz")
