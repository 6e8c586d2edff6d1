"""Helpers of the offline kept-records tests (flowcept_core.replay, flowcept_core.retained)."""

from __future__ import annotations

from flowcept import Flowcept


def built_and_given(fc: Flowcept, calls) -> tuple[list[dict], list[dict]]:
    """Make the calls with the run's drains held off; returns (messages as TaskTemplate.materialize builds the
    records, messages get_buffer() gives for them)."""
    run = fc._run
    with run._drain_lock:  # the flusher cannot take the records before they are copied
        before = len(run.items)
        calls()
        records = run.items[before:]
    expected = [m for chunk in run.materialize_chunks(records) for m in chunk]
    got = fc.get_buffer()[-len(expected):] if expected else []
    return expected, got


def record_segments(fc: Flowcept) -> list:
    """The window's entries of records kept as they are: [kind, build, flat records, estimated memory]."""
    return [seg for seg in fc._run.retained._tail if seg[0] == "r"]


def kept_records(fc: Flowcept) -> int:
    return sum(len(seg[2]) // seg[1].width for seg in record_segments(fc))
