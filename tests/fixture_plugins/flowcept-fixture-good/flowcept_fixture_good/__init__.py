"""Test fixture plugin: a working MQ backend ("echo") and interceptor ("fixture_interceptor")."""
