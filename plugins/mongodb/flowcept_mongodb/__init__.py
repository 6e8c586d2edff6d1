"""flowcept-mongodb: the ``mongodb`` store (MongoDB through pymongo).

Importing this package does not import pymongo; ``flowcept_mongodb.store.MongoDBStore`` does.
"""

__all__: list[str] = []
