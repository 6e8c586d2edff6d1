"""One LMDB environment per directory per process, shared by every LMDBStore on that directory.

LMDB forbids opening the same environment twice in one process (the second open breaks the first one's locks), so
environments live in a registry keyed by (process id, real path) and are reference counted. The environment's map
grows on demand: ``set_mapsize`` may only be called while no transaction of this process is active, so every
transaction passes a gate (shared) and a resize takes the gate exclusively.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

import lmdb

from flowcept_core.plugin import COLLECTIONS, StoreError, StoreUnavailableError, make_private
from flowcept_lmdb import _postings as postings
from flowcept_lmdb._codec import index_keys, unpack
from flowcept_lmdb._config import LMDBConfig
from flowcept_lmdb._resident import ResidentTrim

__all__ = ["SharedEnv", "acquire_env", "reacquire_after_fork", "release_env", "INDEXED_FIELDS"]

# Indexed fields per collection: sub-database ix:<collection>:<field> holds their posting lists (see _postings).
INDEXED_FIELDS: dict[str, tuple[str, ...]] = {
    "tasks": ("workflow_id", "campaign_id", "parent_task_id", "activity_id"),
    "workflows": ("campaign_id", "parent_workflow_id"),
    "objects": (),
    "agents": (),
    "dead_letters": ("task_id",),
}
_MAX_DBS = 32


class _Gate:
    """Many holders share it; a resize waits until nobody holds it and keeps newcomers out meanwhile."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._holders = 0
        self._exclusive = False

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._holders += 1
        try:
            yield
        finally:
            with self._cond:
                self._holders -= 1
                if self._holders == 0:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._exclusive = True
            while self._holders:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


class SharedEnv:
    """An open environment, its named sub-databases, the in-process write lock and the resize gate."""

    def __init__(self, cfg: LMDBConfig) -> None:
        self.cfg = cfg
        self.key = _key(cfg)  # (process id, real path): an environment is never used across fork
        self.closed_in_child = False
        self.refs = 0
        self.gate = _Gate()
        # One writer thread per process at a time: threads queue here instead of inside LMDB's writer mutex.
        self.write_lock = threading.Lock()
        self.resident = ResidentTrim(cfg.path)
        where = f"databases.lmdb.path={cfg.raw_path!r}"
        try:
            self.env = lmdb.open(
                cfg.path,
                map_size=cfg.map_size,
                max_dbs=_MAX_DBS,
                max_readers=cfg.max_readers,
                lock=True,
                readahead=False,
                subdir=True,
                create=True,
                # each commit syncs its data pages, not the metadata page (the next commit's sync, sync() and
                # close() write it): the database stays consistent, and a system crash (not a process crash) may undo
                # only the last transaction not yet synced; half the syncs per commit
                metasync=False,
                sync=True,
                mode=0o600,
            )
            for name in ("data.mdb", "lock.mdb"):  # lmdb's mode goes through the umask; these may not
                make_private(os.path.join(cfg.path, name))
        except lmdb.Error as e:
            raise StoreError(f"{where}: cannot open the LMDB environment ({type(e).__name__}: {e})") from None
        try:
            self._open_sub_databases()
        except (lmdb.Error, StoreError) as e:
            self.env.close()
            if isinstance(e, StoreError):
                raise
            raise StoreError(f"{where}: cannot create the sub-databases ({type(e).__name__}: {e})") from None

    def _open_sub_databases(self) -> None:
        self.docs: dict[str, Any] = {}
        self.indexes: dict[str, dict[str, Any]] = {}
        while True:
            seen = self.map_size()
            try:
                with self.env.begin(write=True) as txn:
                    self.snapshots = self.env.open_db(b"snap", txn=txn, create=True)
                    self.snapshot_cache: dict[bytes, bytes] = {}
                    for coll in COLLECTIONS:
                        self.docs[coll] = self.env.open_db(coll.encode(), txn=txn, create=True)
                        self.indexes[coll] = {f: self._open_index(txn, coll, f) for f in INDEXED_FIELDS[coll]}
                    # lineage: tasks written since the value index was brought up to date, and that index (_lineage)
                    self.lineage = {name: self.env.open_db(f"lx:{name}".encode(), txn=txn, create=True,
                                                           dupsort=name != "pending")
                                    for name in ("pending", "used", "generated")}
                return
            except lmdb.MapFullError:
                self.grow(seen)  # a tiny databases.lmdb.map_size cannot even hold the empty sub-databases
            except lmdb.MapResizedError:
                self.env.set_mapsize(0)

    def _open_index(self, txn: Any, coll: str, field: str) -> Any:
        """The posting-list index of coll.field (see _postings), built from the documents when it is missing
        (an environment written before this index format: its one-entry-per-document index is dropped)."""
        name = f"ix:{coll}:{field}".encode()
        try:
            return self.env.open_db(name, txn=txn, create=False)
        except lmdb.NotFoundError:
            pass
        idx = self.env.open_db(name, txn=txn, create=True)
        try:
            old = self.env.open_db(f"idx:{coll}:{field}".encode(), txn=txn, create=False, dupsort=True)
        except lmdb.NotFoundError:
            old = None
        if old is not None:
            txn.drop(old, delete=True)
        if txn.stat(self.docs[coll])["entries"]:
            entries: dict[bytes, list[bytes]] = {}
            for key, raw in txn.cursor(db=self.docs[coll]):
                for ik in index_keys(unpack(raw), field):
                    entries.setdefault(ik, []).append(bytes(key))
            postings.add(txn, idx, entries)
        return idx

    def sync(self, quiet: bool = False) -> None:
        """Sync the data and metadata pages to disk (StoreError when the disk fails, unless quiet)."""
        try:
            self.env.sync(True)
        except lmdb.Error as e:
            if not quiet:
                where = f"databases.lmdb.path={self.cfg.raw_path!r}"
                raise StoreError(f"{where}: sync failed ({type(e).__name__}: {e})") from None

    def map_size(self) -> int:
        return int(self.env.info()["map_size"])

    def grow(self, seen: int) -> None:
        """Double the map after MapFullError at size seen (unless another thread already grew it).

        Raises StoreUnavailableError once databases.lmdb.max_map_size would be exceeded.
        """
        with self.gate.exclusive():
            current = self.map_size()
            if current > seen:
                return
            if current >= self.cfg.max_map_size:
                raise StoreUnavailableError(
                    f"databases.lmdb.map_size: the LMDB map at databases.lmdb.path={self.cfg.raw_path!r} is full at "
                    f"{current} bytes and may not grow past databases.lmdb.max_map_size={self.cfg.max_map_size}; "
                    "raise databases.lmdb.max_map_size or free space (nothing of this call was written)"
                )
            self.env.set_mapsize(min(current * 2, self.cfg.max_map_size))

    def adopt_resize(self) -> None:
        """Take over a map size grown by another process (after MapResizedError)."""
        with self.gate.exclusive():
            self.env.set_mapsize(0)


_envs: dict[tuple[int, str], SharedEnv] = {}
_envs_lock = threading.Lock()


def _key(cfg: LMDBConfig) -> tuple[int, str]:
    return os.getpid(), os.path.realpath(cfg.path)


def acquire_env(cfg: LMDBConfig) -> SharedEnv:
    """The environment for cfg.path in this process, opened on first use; pair with release_env."""
    with _envs_lock:
        return _acquire_locked(cfg)


def reacquire_after_fork(inherited: SharedEnv) -> SharedEnv:
    """This process's environment for a store built before fork(); the inherited one is closed here first.

    py-lmdb refuses a second open of a path while the inherited Environment object exists, and closing it in the
    child is safe: a child holds none of the parent's file locks, and LMDB clears only this process's reader slots.
    """
    with _envs_lock:
        if _key(inherited.cfg) not in _envs and not inherited.closed_in_child:
            inherited.closed_in_child = True
            inherited.env.close()
        return _acquire_locked(inherited.cfg)


def _acquire_locked(cfg: LMDBConfig) -> SharedEnv:
    shared = _envs.get(_key(cfg))
    if shared is None:
        shared = _envs[_key(cfg)] = SharedEnv(cfg)
    shared.refs += 1
    return shared


def release_env(shared: SharedEnv) -> None:
    """Drop one reference; the last one closes the environment (never one inherited from a parent process)."""
    with _envs_lock:
        shared.refs -= 1
        if shared.refs > 0 or shared.key[0] != os.getpid():
            return
        _envs.pop(shared.key, None)
        # Closed while holding the registry lock: a concurrent acquire_env must not open the same files before this
        # close, since closing any descriptor of lock.mdb drops the process's locks on it.
        with shared.gate.exclusive():
            shared.env.close()
