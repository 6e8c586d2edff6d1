"""flowcept-lmdb: the embedded LMDB document store (``databases.lmdb``).

Importing this package imports neither lmdb nor the store; the registry reaches it through ``flowcept_lmdb.hooks``.
"""

__all__: list[str] = []
