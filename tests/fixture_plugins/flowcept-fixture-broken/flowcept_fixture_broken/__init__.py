"""Test fixture plugin whose hooks module cannot be imported."""
