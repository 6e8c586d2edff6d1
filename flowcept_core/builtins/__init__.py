"""Built-in plugins: the in-process MQ (memory_mq) and the instrumentation interceptor; registered through the same
hooks as installed plugins (see hooks). Importing this package imports nothing else, so a run with the defaults does
not load the plugin machinery on the caller's path."""
