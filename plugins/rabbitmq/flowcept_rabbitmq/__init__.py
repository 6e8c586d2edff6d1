"""flowcept-rabbitmq: the ``rabbitmq`` MQ backend (pika). Select it with ``mq: {type: rabbitmq}`` in settings.yaml."""
