"""Fault suite: producers and DocumentInserters in separate processes against real brokers; the store is read back
and compared with what was produced, by id and content."""
