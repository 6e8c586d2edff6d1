"""flowcept-dask: captures the tasks of a Dask distributed run (scheduler and worker plugins, and the ``dask``
interceptor that registers them on the user's client and delivers what they see)."""
