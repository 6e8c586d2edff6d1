"""flowcept-redis: the ``redis`` MQ backend (Redis Streams). Select it with ``mq: {type: redis}`` in settings.yaml.

Importing this package does not import redis; the backend module is loaded by the factory in ``hooks``.
"""
