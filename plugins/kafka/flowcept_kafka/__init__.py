"""flowcept-kafka: the ``kafka`` MQ backend (``mq.type: kafka``), built on confluent-kafka.

Importing this package does not import confluent-kafka; the registry calls ``flowcept_kafka.hooks``' factory only
when a user selects ``kafka``.
"""
