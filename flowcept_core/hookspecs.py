"""Every plugin hook, and only hooks. Entry-point group: ``flowcept``.

A plugin distribution exposes a module with ``@hookimpl`` functions and registers it in its pyproject::

    [project.entry-points.flowcept]
    redis = "flowcept_redis.hooks"

Each hook returns spec records (flowcept_core.plugin: MQBackendSpec, StoreSpec, InterceptorSpec, ConsumerSpec).
Hooks are called once per registry (when a name of that kind is first looked up) and must be cheap: name the
factory as ``"module:attr"`` and the libraries it needs in ``requires``, so listing plugins imports no heavy
library and a missing one fails only when a user chooses that name, with an install hint.
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from flowcept_core.specs import CliCommandSpec, ConsumerSpec, InterceptorSpec, MQBackendSpec, StoreSpec

__all__ = ["hookspec", "hookimpl", "PROJECT_NAME", "flowcept_mq_backends", "flowcept_interceptors",
           "flowcept_stores", "flowcept_consumers", "flowcept_cli_commands", "MQBackendSpec", "InterceptorSpec",
           "StoreSpec", "ConsumerSpec", "CliCommandSpec"]

PROJECT_NAME = "flowcept"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def flowcept_mq_backends() -> Iterable[MQBackendSpec]:
    """The MQ backends this plugin provides; a user picks one with ``mq.type``.

    Called once per registry, the first time MQ backends are listed or resolved. Returns MQBackendSpec records;
    the factory is called as ``factory(settings, channel=None)`` when the backend is opened and returns an object
    following flowcept_core.plugin.MQBackend.

    Example::

        @hookimpl
        def flowcept_mq_backends():
            yield MQBackendSpec(name="redis", factory="flowcept_redis.backend:RedisMQ", requires=("redis",),
                                extra="redis", settings=REDIS_SETTINGS, summary="Redis Streams")
    """


@hookspec
def flowcept_interceptors() -> Iterable[InterceptorSpec]:
    """The interceptors (adapters) this plugin provides; chosen by ``Flowcept(interceptors=[name])`` or by
    ``adapters.<key>.kind`` in settings.

    Called once per registry, the first time interceptors are listed or resolved; must not import the observed
    library (name it in ``requires``). The factory is called as ``factory(settings, **kwargs)`` at Flowcept.start()
    with the ``Flowcept(...)`` keyword arguments the spec lists in ``kwargs``, and returns a
    flowcept_core.plugin.Interceptor.

    Example::

        @hookimpl
        def flowcept_interceptors():
            yield InterceptorSpec(name="dask", factory="flowcept_dask.interceptor:DaskInterceptor",
                                  requires=("distributed",), extra="dask", kwargs=("dask_client",))
    """


@hookspec
def flowcept_stores() -> Iterable[StoreSpec]:
    """The stores (databases) this plugin provides; enabled with ``databases.<name>.enabled: true``.

    Called once per registry, the first time stores are listed or resolved. The factory is called as
    ``factory(settings)`` when a store is opened (once per process and configuration) and returns a
    flowcept_core.plugin.Store.

    Example::

        @hookimpl
        def flowcept_stores():
            yield StoreSpec(name="lmdb", factory="flowcept_lmdb.store:LMDBStore", requires=("lmdb",), extra="lmdb",
                            settings=LMDB_SETTINGS, read_preference=20)
    """


@hookspec
def flowcept_consumers() -> Iterable[ConsumerSpec]:
    """Custom consumers this plugin provides; started with the persistence services when named in
    ``plugins.consumers``.

    Called once per registry. The factory is called as ``factory(settings)`` at Flowcept.start() and returns a
    BaseConsumer subclass instance (not yet started).

    Example::

        @hookimpl
        def flowcept_consumers():
            yield ConsumerSpec(name="counter", factory="my_plugin.consumer:Counter")
    """


@hookspec
def flowcept_cli_commands() -> Iterable[CliCommandSpec]:
    """Subcommands of the ``flowcept`` command this plugin provides (``flowcept <name> ...``).

    Called once per registry, when ``flowcept`` is run with a name that is not one of its own subcommands. The factory
    is called as ``factory(argv)`` with the arguments after the name and returns the exit status; it parses them
    itself, so ``flowcept <name> --help`` shows the plugin's options.

    Example::

        @hookimpl
        def flowcept_cli_commands():
            yield CliCommandSpec(name="ui", factory="flowcept_ui.cli:main", extra="ui",
                                 summary="browse stored provenance in a web browser")
    """
