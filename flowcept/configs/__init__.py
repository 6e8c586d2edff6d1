"""Compatibility module: upstream's ``flowcept.configs`` constants, read from the current settings on each access.

``settings`` is the merged settings dict; ``SETTINGS_PATH`` the file it came from (None for built-in defaults);
``PROJECT_NAME``, ``MQ_TYPE``, ``DUMP_BUFFER_PATH``, ``APPEND_ID_TO_PATH``, ... as upstream names them
(flowcept_core.compat.CONFIG_KEYS lists which settings key each reads).
"""

from typing import Any


def __getattr__(name: str) -> Any:
    from flowcept_core.compat import config_value

    return config_value(name)


def __dir__() -> list[str]:
    from flowcept_core.compat import config_names

    return config_names()
