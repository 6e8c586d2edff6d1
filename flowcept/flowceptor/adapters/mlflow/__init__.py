"""Compatibility package (upstream import paths)."""
