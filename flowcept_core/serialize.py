"""Turning captured Python values into message-safe values, and messages into JSON lines.

Called off the hot path (when pending records are materialized). Every result can be encoded by orjson, msgpack and
BSON and queried in every store. Rules, in order:
plain JSON scalars pass; ints outside the signed 64-bit range become their decimal text (hexadecimal ``0x...`` past
Python's int-to-str digit limit); str with lone surrogates gets them as ``\\udXXX`` escapes; str/bytes longer than
``max_bytes`` are cut with a ``...(truncated, N chars|bytes)`` marker; dict/list/tuple/set are walked up to
``max_items`` entries and ``max_depth`` levels (cycles become a marker string); dict keys become str (None, bools
and numbers as JSON writes them); values under secret-looking keys and URL passwords are masked (see
flowcept_core.redact); ``argparse.Namespace`` and dataclasses become dicts; objects with ``to_flowcept_dict()`` /
``to_dict()`` use it; Decimal, Fraction, complex, UUID and paths become their text; array-likes with ``tolist()``
(numpy, torch) become lists when small, a summary when large; anything else becomes
``"<ClassName>_instance_id_<id>"``. NaN and the infinities become "NaN", "Infinity", "-Infinity" (JSON and some
MongoDB-compatible servers refuse them as numbers).
"""

from __future__ import annotations

import sys
import types

TYPE_CHECKING = False  # typing is not imported at run time: it costs more than the rest of `import flowcept`
if TYPE_CHECKING:
    from typing import Any

    from flowcept_core.redact import Redactor

__all__ = ["ValueLimits", "sanitize", "sanitize_dict", "all_plain", "too_long", "object_placeholder", "dumps_line",
           "dumps_lines", "DICT_CLASSES", "is_namespace", "plain_int", "plain_str", "int_text", "valid_text",
           "I64_MIN", "I64_MAX", "DEFAULT_LIMITS", "finite"]

# Classes converted through their __dict__ (extend with DICT_CLASSES.append(MyClass)); argparse.Namespace too.
DICT_CLASSES: list[type] = [types.SimpleNamespace]
I64_MIN, I64_MAX = -(2**63), 2**63 - 1  # BSON's integer range (msgpack and orjson go to 2**64 - 1)
_INF = float("inf")  # -_INF < v < _INF is False for NaN and the infinities


def is_namespace(v: Any) -> bool:
    """isinstance(v, argparse.Namespace), without importing argparse (no Namespace exists until it is imported)."""
    argparse = sys.modules.get("argparse")
    return argparse is not None and isinstance(v, argparse.Namespace)

_DEFAULT = object()
_SCALARS = (str, int, float, bool, type(None))
_TEXT_TYPES = ("Decimal", "Fraction", "UUID", "PosixPath", "WindowsPath", "PurePosixPath", "PureWindowsPath")


class ValueLimits:
    """Caps that keep huge or pathological values from stalling capture, and the secret masking to apply
    (``redact``: a Redactor, or None when ``project.redact_secrets`` is false)."""

    __slots__ = ("max_depth", "max_items", "max_bytes", "replace_non_json", "redact")

    def __init__(self, max_depth: int = 32, max_items: int = 10_000, max_bytes: int = 1_048_576,
                 replace_non_json: bool = True, redact: Redactor | None | object = _DEFAULT):
        if redact is _DEFAULT:  # the redact module (and re) load with the first limits a run makes, not on import
            from flowcept_core.redact import DEFAULT_REDACTOR as redact
        self.max_depth = max_depth
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.replace_non_json = replace_non_json
        self.redact = redact

    @classmethod
    def from_settings(cls, project: dict) -> ValueLimits:
        """The limits of a ``project`` settings section; called when a run starts."""
        return cls(project.get("max_value_depth", 32), project.get("max_value_items", 10_000),
                   project.get("max_value_bytes", 1_048_576), bool(project.get("replace_non_json_serializable", True)),
                   _redactor_from_settings(project))


def _redactor_from_settings(project: dict) -> Redactor | None:
    from flowcept_core.redact import redactor_from_settings

    return redactor_from_settings(project)


class _DefaultRedactor:
    """Stands for the default Redactor in DEFAULT_LIMITS until first used, then puts the real one in its place."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        from flowcept_core.redact import DEFAULT_REDACTOR

        DEFAULT_LIMITS.redact = DEFAULT_REDACTOR
        return getattr(DEFAULT_REDACTOR, name)


DEFAULT_LIMITS = ValueLimits(redact=_DefaultRedactor())


def object_placeholder(obj: Any) -> str:
    return f"{type(obj).__name__}_instance_id_{id(obj)}"


def too_long(s: str, limit: int) -> bool:
    """True when s takes more than limit bytes in UTF-8 (cheap for short strings: no encoding below limit/4)."""
    n = len(s)
    if n <= limit >> 2:
        return False
    return n > limit or len(s.encode("utf-8", "surrogatepass")) > limit


def _float_text(v: float) -> str:
    """NaN and the infinities as JavaScript names them: some stores and JSON refuse them as numbers."""
    return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")


def finite(v: float) -> bool:
    """True for a float every store and JSON keep as a number (not NaN, not infinite)."""
    return -_INF < v < _INF


def plain_int(v: int) -> bool:
    """True when an int fits every store as a number (signed 64 bits)."""
    return I64_MIN <= v <= I64_MAX


def int_text(v: int) -> str:
    """Decimal text of an int; ``0x...`` hexadecimal beyond Python's int-to-str digit limit (value kept either way)."""
    try:
        return str(v)
    except ValueError:  # sys.get_int_max_str_digits(): decimal conversion is quadratic, hex is not
        return hex(v)


def valid_text(s: str) -> str:
    """s when it encodes to UTF-8; else s with each lone surrogate written as a ``\\udXXX`` escape."""
    if s.isascii():
        return s
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _cut_str(s: str, limit: int) -> str:
    if not too_long(s, limit):
        return s
    cut = s.encode("utf-8", "surrogatepass")[:limit].decode("utf-8", "ignore")
    return f"{cut}...(truncated, {len(s)} chars)"


def _text(s: str, limits: ValueLimits) -> str:
    s = valid_text(_cut_str(s, limits.max_bytes))
    return limits.redact.mask_urls(s) if limits.redact is not None else s


def _bytes(value: Any, limit: int) -> bytes:
    data = bytes(value)
    if len(data) <= limit:
        return data
    return data[:limit] + f"...(truncated, {len(data)} bytes)".encode("ascii")


def _key(k: Any) -> str:
    """A dict key as text, the way JSON writes it (None -> "null", True -> "true", 1 -> "1"); a NUL character, which
    no BSON key may hold, written as ``\\u0000``."""
    if type(k) is str:
        return valid_text(k).replace("\x00", "\\u0000")
    if k is None:
        return "null"
    if type(k) is bool:
        return "true" if k else "false"
    if isinstance(k, int):
        return int_text(k)
    try:
        return valid_text(str(k)).replace("\x00", "\\u0000")
    except Exception:
        return object_placeholder(k)


def sanitize(value: Any, limits: ValueLimits = DEFAULT_LIMITS, _depth: int = 0, _path: set | None = None) -> Any:
    """Return a message-safe version of value; never raises (a value that cannot be converted becomes a marker)."""
    t = type(value)
    if t is str:
        return _text(value, limits)
    if t is int:
        return value if I64_MIN <= value <= I64_MAX else int_text(value)
    if t is float:
        return value if -_INF < value < _INF else _float_text(value)
    if t is bool or value is None:
        return value
    if t is bytes or t is bytearray or t is memoryview:
        return _bytes(value, limits.max_bytes)
    if _depth >= limits.max_depth:
        return f"<max depth {limits.max_depth} reached: {t.__name__}>"
    try:
        if t is dict or t is list or t is tuple or t is set or t is frozenset or isinstance(value, (dict, list, tuple)):
            path = _path if _path is not None else set()
            vid = id(value)
            if vid in path:
                return f"<cycle: {t.__name__}>"
            path.add(vid)
            try:
                return _sanitize_container(value, limits, _depth, path)
            finally:
                path.discard(vid)
        if isinstance(value, _SCALARS):  # str/int/float subclasses (enums, numpy scalars that subclass float)
            inner = value.value if hasattr(value, "value") and isinstance(value.value, _SCALARS) else value
            if isinstance(inner, str):  # str.__str__/int.__int__: the plain value, not an overridden __str__
                return _text(str.__str__(inner), limits)
            if isinstance(inner, int) and not isinstance(inner, bool):
                return sanitize(int.__int__(inner), limits)
            if isinstance(inner, float):
                return sanitize(float.__float__(inner), limits)
            return inner
        return _sanitize_object(value, limits, _depth, _path)
    except Exception as e:  # a broken __len__/__iter__/__str__ of a user's class: keep identity, say why
        return f"{object_placeholder(value)} (conversion failed: {type(e).__name__})"


def _sanitize_container(value: Any, limits: ValueLimits, depth: int, path: set) -> Any:
    n = len(value)
    cap = limits.max_items
    if isinstance(value, dict):
        redact = limits.redact
        out = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= cap:
                out["__truncated_items__"] = n - cap
                break
            key = k if type(k) is str and k.isascii() and "\x00" not in k else _key(k)
            if redact is not None and redact.secret_key(key):
                out[key] = redact.masked(v)
            else:
                out[key] = sanitize(v, limits, depth + 1, path)
        return out
    items = value if isinstance(value, (list, tuple)) else _sorted_set(value)
    out_list = [sanitize(v, limits, depth + 1, path) for v in items[:cap]]
    if n > cap:
        out_list.append(f"...({n - cap} more items)")
    return out_list


def _sorted_set(value: Any) -> list:
    try:
        return sorted(value)
    except TypeError:  # mixed types: a stable order anyway
        return sorted(value, key=repr)


def _sanitize_object(value: Any, limits: ValueLimits, depth: int, path: set | None) -> Any:
    if not limits.replace_non_json:
        return _text(repr(value), limits)
    try:
        if isinstance(value, tuple(DICT_CLASSES)) or is_namespace(value):
            return sanitize(vars(value), limits, depth + 1, path)
        for meth in ("to_flowcept_dict", "to_dict"):
            fn = getattr(value, meth, None)
            if callable(fn) and not isinstance(value, type):
                return sanitize(fn(), limits, depth + 1, path)
        if hasattr(type(value), "__dataclass_fields__") and not isinstance(value, type):
            import dataclasses

            return sanitize({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, limits, depth + 1,
                            path)
        tolist = getattr(value, "tolist", None)
        if callable(tolist) and hasattr(value, "shape"):
            size = _size_of(value)
            if size is not None and size <= limits.max_items:
                return sanitize(tolist(), limits, depth + 1, path)
            return {"type": type(value).__name__, "shape": list(value.shape), "dtype": str(getattr(value, "dtype", ""))}
        if hasattr(value, "isoformat"):  # datetime, date, time
            return value.isoformat()
        if type(value) is complex or type(value).__name__ in _TEXT_TYPES:  # value kept as its exact text
            return _text(str(value), limits)
    except Exception as e:  # a user's to_dict() failed: keep identity, say why
        return f"{object_placeholder(value)} (conversion failed: {type(e).__name__})"
    return object_placeholder(value)


def _size_of(value: Any) -> int | None:
    size = getattr(value, "size", None)
    if callable(size):  # torch: numel()/size() is a method
        numel = getattr(value, "numel", None)
        size = numel() if callable(numel) else None
    return size if isinstance(size, int) else None


def all_plain(values: Any, max_bytes: int) -> bool:
    """True when every value is a JSON scalar needing no work: str within max_bytes, ASCII or valid UTF-8 and
    holding no URL (that may carry a password), int within signed 64 bits, float finite."""
    for v in values:
        t = type(v)
        if t is str:
            if too_long(v, max_bytes) or "://" in v or not (v.isascii() or _utf8(v)):
                return False
        elif t is int:
            if not -9223372036854775808 <= v <= 9223372036854775807:  # I64_MIN, I64_MAX as constants
                return False
        elif t is float:
            if not -_INF < v < _INF:
                return False
        elif t is not bool and v is not None:
            return False
    return True


def plain_str(v: str, max_bytes: int) -> bool:
    """all_plain for one str."""
    return not too_long(v, max_bytes) and "://" not in v and (v.isascii() or _utf8(v))


def _utf8(s: str) -> bool:
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def sanitize_dict(d: dict, limits: ValueLimits) -> dict:
    """sanitize() for the top level of used/generated: the same dict back when it holds only plain scalars under
    str keys that are not secret."""
    if len(d) <= limits.max_items and all_plain(d.values(), limits.max_bytes):
        redact = limits.redact
        if redact is None:
            if all(type(k) is str and k.isascii() and "\x00" not in k for k in d):
                return d
        elif not redact.keys_need_work(d):
            return d
    return sanitize(d, limits)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (bytes, bytearray, memoryview)):
        import base64

        return {"$binary": {"base64": base64.b64encode(bytes(obj)).decode("ascii"), "subType": "00"}}
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    return sanitize(obj)


def dumps_lines(msgs: list) -> bytes:
    """JSONL for a batch of messages, as dumps_line gives each.

    Each line is appended to one growing buffer and dropped at once: keeping thousands of small encoder outputs
    alive until a join makes every further encoder allocation several times slower (measured: 530 -> 340 ns/line).
    """
    import orjson

    dumps, err = orjson.dumps, orjson.JSONEncodeError
    opts = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
    buf = bytearray()
    for msg in msgs:
        try:
            buf += dumps(msg, default=_json_default, option=opts)
        except (TypeError, err):
            buf += dumps_line(msg)
    return bytes(buf)


def dumps_line(msg: dict) -> bytes:
    """One JSONL line (with trailing newline) for a message; falls back to a sanitized copy if orjson refuses."""
    import orjson  # cached in sys.modules after the first call; keeps `import flowcept` light

    opts = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
    try:
        return orjson.dumps(msg, default=_json_default, option=opts)
    except (TypeError, orjson.JSONEncodeError):
        pass
    opts |= orjson.OPT_NON_STR_KEYS  # only when needed: it makes orjson about twice as slow
    try:
        return orjson.dumps(msg, default=_json_default, option=opts)
    except (TypeError, orjson.JSONEncodeError):
        pass
    clean = sanitize(msg)  # valid text, str keys, 64-bit ints: what orjson always encodes
    try:
        return orjson.dumps(clean, default=_json_default, option=opts)
    except (TypeError, orjson.JSONEncodeError) as e:  # not expected; the line still says what happened
        return orjson.dumps({"type": sanitize(getattr(msg, "get", dict().get)("type")),
                             "flowcept_encoding_error": f"{type(e).__name__}: {e}"}, option=opts)
