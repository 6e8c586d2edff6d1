"""Test fixture plugin that duplicates the built-in "memory" MQ backend name."""
