"""Functions examples/dask_example.py runs on Dask workers. They live in a module (not in the script) so that the
worker processes import them by name."""

from __future__ import annotations

from flowcept import flowcept_task


@flowcept_task
def normalize(value, scale=10.0):
    """A decorated step: recorded as a child of the Dask task that calls it."""
    return value / scale


def square(x):
    return normalize(x * x)


def total(values):
    return sum(values)
