"""pandas DataFrames from task and workflow messages: dotted columns for nested dicts, built column by column.

pandas is imported on the first call, never with the module."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["to_dataframe"]


# Workflow metadata blobs stay one column each: flattened, the settings snapshot alone adds ~90 sparse columns.
_KEEP_NESTED = frozenset({"flowcept_settings", "machine_info", "conf", "code_repository", "extra_metadata"})


def to_dataframe(messages: list[dict], normalize: bool = True) -> Any:
    """A pandas DataFrame; normalize=True gives dotted columns (used.x, telemetry_at_end.cpu.percent_all).

    Nested dicts become dotted columns; lists, empty dicts and workflow metadata blobs (flowcept_settings,
    machine_info, conf, ...) stay values. Columns are in first-seen order; a missing cell is None (NaN in numbers).
    """
    try:
        import pandas as pd
    except ModuleNotFoundError:
        raise ModuleNotFoundError("pandas is needed for DataFrames: pip install pandas") from None
    rows = messages if messages.__class__ is list else list(messages)
    kinds = set(map(type, rows))
    if kinds - {dict}:
        bad = next(i for i, r in enumerate(rows) if r.__class__ is not dict)
        raise TypeError(f"message {bad} is a {type(rows[bad]).__name__}, not a dict: {rows[bad]!r:.80}")
    from flowcept_core.gcpause import gc_paused

    with gc_paused(promote=True):  # millions of new acyclic lists and tuples (and pandas' own objects)
        return pd.DataFrame(_columns(rows) if normalize else rows)


def _columns(rows: list) -> dict[str, list]:
    """Columns (dotted for nested dicts) from row dicts; None where a row lacks the key; first-seen key order.

    Rows are cut into columns by C-level maps where that pays: runs of rows with the same keys (a buffer file is
    mostly long runs of one activity's tasks) by transposing row tuples; rows whose keys change often (activities
    interleaved) a key at a time over all rows; a level of many sparse keys (dicts keyed by sample or file) cell
    by cell, visiting only the cells there are. Nested dicts are flattened level by level the same way.
    """
    parts: dict[Any, list] = {}  # column -> [(first row, values) or ([row, ...], values), ...]
    _segments(rows, "", 0, parts)
    n = len(rows)
    out: dict[Any, list] = {}
    for name, segs in parts.items():
        if len(segs) == 1 and segs[0][0].__class__ is int and len(segs[0][1]) == n:
            out[name] = segs[0][1]
            continue
        col = [None] * n
        ranges = sorted((seg for seg in segs if seg[0].__class__ is int), key=_first_row)
        if all(a[0] + len(a[1]) <= b[0] for a, b in zip(ranges, ranges[1:], strict=False)):
            for s0, vals in ranges:
                col[s0 : s0 + len(vals)] = vals
        else:  # a dotted key that also arrives nested ({"a.b": 1} and {"a": {"b": 2}}): a value beats a gap
            for s0, vals in ranges:
                for i, v in enumerate(vals, s0):
                    if v is not None:
                        col[i] = v
        for rows_at, vals in segs:
            if rows_at.__class__ is not int:  # sparse: the rows that have the key
                for i, v in zip(rows_at, vals, strict=True):
                    if v is not None:
                        col[i] = v
        out[name] = col
    return out


def _first_row(seg: tuple) -> int:
    return seg[0]


def _segments(rows: list, prefix: str, base: int, parts: dict) -> None:
    from itertools import groupby, islice

    limit = max(16, len(rows) >> 6)
    runs = [(keys, sum(1 for _ in run)) for keys, run in islice(groupby(map(tuple, rows)), limit + 1)]
    if len(runs) > limit:  # keys change too often for runs of rows
        from itertools import chain

        keys = dict.fromkeys(chain.from_iterable(rows))
        if len(keys) * len(rows) > 16 * sum(map(len, rows)):  # mostly gaps: visit only the cells there are
            _scattered(rows, range(base, base + len(rows)), prefix, parts)
        else:  # a pass over all rows per key
            _gathered(rows, keys, prefix, base, parts)
        return
    from operator import itemgetter

    start = 0
    for keys, count in runs:
        chunk = rows[start : start + count] if count != len(rows) else rows
        if len(keys) <= 1:
            columns = [list(map(itemgetter(keys[0]), chunk))] if keys else []
        else:  # row tuples, then transposed: one pass over the dicts (a pass per key is cache-hostile)
            columns = list(map(list, zip(*map(itemgetter(*keys), chunk), strict=True)))
        for k, vals in zip(keys, columns, strict=True):
            name = f"{prefix}{k}" if prefix else k
            if (prefix or k not in _KEEP_NESTED) and dict in set(map(type, vals)):
                at = base + start
                for nested, sub in groupby(vals, _is_nested):  # dotted columns for non-empty dicts, else the value
                    sub = list(sub)
                    if nested:
                        _segments(sub, f"{name}.", at, parts)
                    else:
                        parts.setdefault(name, []).append((at, sub))
                    at += len(sub)
            else:
                parts.setdefault(name, []).append((base + start, vals))
        start += count


def _gathered(rows: list, keys: Any, prefix: str, base: int, parts: dict) -> None:
    from itertools import repeat

    get = dict.get
    for k in keys:
        vals = list(map(get, rows, repeat(k)))  # None where a row lacks k
        name = f"{prefix}{k}" if prefix else k
        if (prefix or k not in _KEEP_NESTED) and dict in set(map(type, vals)):
            if not all(vals):  # some rows keep a value here (not a non-empty dict): that column too
                kept = [None if v.__class__ is dict and v else v for v in vals]
                if any(v is not None for v in kept) or any(k in r and r[k] is None for r in rows):
                    parts.setdefault(name, []).append((base, kept))
                vals = [v if v.__class__ is dict else _NO_KEYS for v in vals]
            _segments(vals, f"{name}.", base, parts)
        else:
            parts.setdefault(name, []).append((base, vals))


_NO_KEYS: dict = {}  # stands for "no nested dict in this row"; only read


def _scattered(rows: list, at: Any, prefix: str, parts: dict) -> None:
    """Row by row, for levels of many sparse keys: a column holds the rows that have its key and their values."""
    cols: dict[Any, tuple[list, list]] = {}
    for i, row in zip(at, rows, strict=True):
        for k, v in row.items():
            col = cols.get(k)
            if col is None:
                col = cols[k] = ([], [])
            col[0].append(i)
            col[1].append(v)
    for k, (where, vals) in cols.items():
        name = f"{prefix}{k}" if prefix else k
        if (prefix or k not in _KEEP_NESTED) and dict in set(map(type, vals)):
            nested_at, nested, kept_at, kept = [], [], [], []
            for i, v in zip(where, vals, strict=True):
                if v.__class__ is dict and v:
                    nested_at.append(i)
                    nested.append(v)
                else:
                    kept_at.append(i)
                    kept.append(v)
            if kept:
                parts.setdefault(name, []).append((kept_at, kept))
            _scattered(nested, nested_at, f"{name}.", parts)
        else:
            parts.setdefault(name, []).append((where, vals))


def _is_nested(v: Any) -> bool:
    return v.__class__ is dict and bool(v)
