"""The two PROV serializations the export writes, record by record: PROV-JSON and PROV-N.

Called by flowcept_core.prov_export, which decides what the records are (flowcept_core.prov_mapping). A sink holds one
container (the document's top level, or one bundle) as bytes per section, so an export needs memory about the size of
its output and no PROV object model; :func:`write_document` puts the containers together in a file.

Identifiers are ``prefix:local`` with the prefixes of :data:`NAMESPACES`. A local part keeps letters, digits and
``_-./:@~&+*?#$!=``; any other character (a space, ``%``, non-ASCII) is percent-encoded as UTF-8 (``%20``), so every
identifier is one PROV-N can write, and the same in both formats (PROV-N backslash-escapes ``:`` and ``=`` in it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

import orjson

__all__ = ["NAMESPACES", "JsonSink", "ProvnSink", "local", "prov_time", "write_document", "SINKS"]

NAMESPACES: dict[str, str] = {
    "flowcept": "https://flowcept.org/ns#",
    "workflow": "https://flowcept.org/ns/workflow/",
    "task": "https://flowcept.org/ns/task/",
    "value": "https://flowcept.org/ns/value/",
    "agent": "https://flowcept.org/ns/agent/",
    "bundle": "https://flowcept.org/ns/bundle/",
}
# PROV-JSON sections, in the order they are written
_SECTIONS = (
    "activity",
    "entity",
    "agent",
    "used",
    "wasGeneratedBy",
    "wasAssociatedWith",
    "wasStartedBy",
    "wasInformedBy",
    "wasDerivedFrom",
)
_CHUNK = 2048  # members encoded per orjson call
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-./:@~&+*?#$!=]")
_PROVN_META = re.compile(r"[=:]")


def _percent(match: re.Match) -> str:
    return "".join(f"%{b:02X}" for b in match.group().encode("utf-8", "surrogatepass"))


def local(text: Any) -> str:
    """text as the local part of an identifier (characters PROV-N cannot write percent-encoded)."""
    text = str(text)
    return _UNSAFE.sub(_percent, text) if _UNSAFE.search(text) else text


def prov_time(ts: Any) -> str | None:
    """An epoch-seconds timestamp (or an ISO string, kept) as an xsd:dateTime string; None when there is none."""
    if type(ts) is float:
        try:
            return _utc_iso(ts)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(ts, bool) or ts is None:
        return None
    if isinstance(ts, (int, float)):
        try:
            return datetime.fromtimestamp(ts, UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            return None
    return ts if isinstance(ts, str) and ts else None


_SECONDS: dict[int, str] = {}  # whole second -> "YYYY-MM-DDTHH:MM:SS" (UTC)


def _utc_iso(ts: float) -> str:
    """datetime.fromtimestamp(ts, UTC).isoformat(), its date and time formatted once per second: the microseconds
    rounded as datetime does (half to even, of the fraction as a double), the rest from a per-second cache."""
    frac, whole = math.modf(ts)
    us = round(frac * 1e6)
    if us >= 1_000_000:
        us -= 1_000_000
        whole += 1.0
    elif us < 0:
        us += 1_000_000
        whole -= 1.0
    sec = int(whole)
    head = _SECONDS.get(sec)
    if head is None:
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()
        head = _SECONDS[sec] = datetime.fromtimestamp(sec, UTC).isoformat()[:19]
    return f"{head}.{us:06d}+00:00" if us else head + "+00:00"


class _Relations:
    """The relations the export writes, by name; a sink gives them to ``relation`` unless it writes them faster."""

    def relation(self, section: str, body: dict[str, Any]) -> None:
        raise NotImplementedError

    def used(self, activity: str, entity: str, role: str) -> None:
        self.relation("used", {"prov:activity": activity, "prov:entity": entity, "prov:role": role})

    def generated(self, entity: str, activity: str, role: str) -> None:
        self.relation("wasGeneratedBy", {"prov:entity": entity, "prov:activity": activity, "prov:role": role})

    def associated(self, activity: str, agent: str) -> None:
        self.relation("wasAssociatedWith", {"prov:activity": activity, "prov:agent": agent})

    def started(self, activity: str, starter: str) -> None:
        self.relation("wasStartedBy", {"prov:activity": activity, "prov:starter": starter})

    def informed(self, informed: str, informant: str) -> None:
        self.relation("wasInformedBy", {"prov:informed": informed, "prov:informant": informant})

    def derived(self, generated: str, used: str, activity: str) -> None:
        self.relation(
            "wasDerivedFrom", {"prov:generatedEntity": generated, "prov:usedEntity": used, "prov:activity": activity}
        )


class JsonSink(_Relations):
    """One PROV-JSON container: each section's members as ``"id":{...}`` bytes, comma-led, encoded a chunk of
    members at a time (one orjson call per chunk of declarations; relations between identifiers, which never need
    escaping (see local), as text). Relation ids are ``_:r<n>``, n from ``ids`` (shared by the containers of one
    document)."""

    def __init__(self, ids: Iterator[int], bundle: bool = False) -> None:
        self.parts: dict[str, bytearray] = {name: bytearray() for name in _SECTIONS}
        self.pending: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
        self.texts: dict[str, list[str]] = {name: [] for name in _SECTIONS}
        self.ids = ids
        self._roles: dict[str, str] = {}  # role -> its JSON string

    def node(self, section: str, ident: str, attrs: dict[str, Any]) -> None:
        """A declaration (activity, entity, agent): attrs hold PROV-JSON values ('prov:startTime', ...)."""
        pending = self.pending[section]
        pending[ident] = attrs
        if len(pending) >= _CHUNK:
            self._flush(section)

    def relation(self, section: str, body: dict[str, Any]) -> None:
        """A relation: body holds its formal arguments ('prov:activity': id, ...) and its attributes."""
        pending = self.pending[section]
        pending[f"_:r{next(self.ids)}"] = body
        if len(pending) >= _CHUNK:
            self._flush(section)

    def _text(self, section: str, member: str) -> None:
        texts = self.texts[section]
        texts.append(member)
        if len(texts) >= _CHUNK:
            self._flush(section)

    def _role(self, role: str) -> str:
        found = self._roles.get(role)
        if found is None:
            found = self._roles[role] = orjson.dumps(role).decode()
        return found

    def used(self, activity: str, entity: str, role: str) -> None:
        self._text(
            "used",
            f'"_:r{next(self.ids)}":{{"prov:activity":"{activity}","prov:entity":"{entity}",'
            f'"prov:role":{self._roles.get(role) or self._role(role)}}}',
        )

    def generated(self, entity: str, activity: str, role: str) -> None:
        self._text(
            "wasGeneratedBy",
            f'"_:r{next(self.ids)}":{{"prov:entity":"{entity}","prov:activity":'
            f'"{activity}","prov:role":{self._roles.get(role) or self._role(role)}}}',
        )

    def associated(self, activity: str, agent: str) -> None:
        self._text(
            "wasAssociatedWith", f'"_:r{next(self.ids)}":{{"prov:activity":"{activity}","prov:agent":"{agent}"}}'
        )

    def started(self, activity: str, starter: str) -> None:
        self._text("wasStartedBy", f'"_:r{next(self.ids)}":{{"prov:activity":"{activity}","prov:starter":"{starter}"}}')

    def informed(self, informed: str, informant: str) -> None:
        self._text(
            "wasInformedBy", f'"_:r{next(self.ids)}":{{"prov:informed":"{informed}","prov:informant":"{informant}"}}'
        )

    def derived(self, generated: str, used: str, activity: str) -> None:
        self._text(
            "wasDerivedFrom",
            f'"_:r{next(self.ids)}":{{"prov:generatedEntity":"{generated}",'
            f'"prov:usedEntity":"{used}","prov:activity":"{activity}"}}',
        )

    def _flush(self, section: str) -> None:
        pending = self.pending[section]
        if pending:
            self.parts[section] += b"," + orjson.dumps(pending)[1:-1]
            pending.clear()
        texts = self.texts[section]
        if texts:
            self.parts[section] += ("," + ",".join(texts)).encode()
            texts.clear()

    def write(self, out: IO[bytes], indent: bytes, lead: bool = False) -> bool:
        """Write the non-empty sections as ``"section":{...}`` members, comma-separated (the first one too when
        lead); True if any was written."""
        first = not lead
        for name in _SECTIONS:
            self._flush(name)
            buf = self.parts[name]
            if buf:
                out.write((b"" if first else b",") + b"\n" + indent + b'"' + name.encode() + b'":{')
                out.write(memoryview(buf)[1:])
                out.write(b"}")
                first = False
        return not first


def _provn_id(ident: str) -> str:
    prefix, _, rest = ident.partition(":")
    if _PROVN_META.search(rest):
        rest = _PROVN_META.sub(lambda m: "\\" + m.group(), rest)
    if rest[:1] in ("-", "."):
        rest = "\\" + rest
    if rest.endswith(".") and not rest.endswith("\\."):
        rest = rest[:-1] + "\\."
    return f"{prefix}:{rest}"


def _provn_literal(value: Any) -> str:
    if isinstance(value, dict):  # {"$": qname, "type": "prov:QUALIFIED_NAME"}
        return f"'{value['$']}'"
    if isinstance(value, bool):
        return f'"{"true" if value else "false"}" %% xsd:boolean'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f'"{value!r}" %% xsd:double'
    s = str(value).replace("\\", "\\\\").replace('"', '\\"')
    if "\n" in s:
        return f'"""{s}"""'
    return '"' + s.replace("\r", "\\r") + '"'


def _provn_attrs(attrs: dict[str, Any] | None) -> str:
    if not attrs:
        return ""
    return ", [" + ", ".join(f"{_provn_id(k)}={_provn_literal(v)}" for k, v in attrs.items()) + "]"


# relation -> the order of its formal arguments in PROV-N ("-" where absent)
_PROVN_ARGS: dict[str, tuple[str, ...]] = {
    "used": ("prov:activity", "prov:entity", "prov:time"),
    "wasGeneratedBy": ("prov:entity", "prov:activity", "prov:time"),
    "wasAssociatedWith": ("prov:activity", "prov:agent", "prov:plan"),
    "wasStartedBy": ("prov:activity", "prov:trigger", "prov:starter", "prov:time"),
    "wasInformedBy": ("prov:informed", "prov:informant"),
    "wasDerivedFrom": ("prov:generatedEntity", "prov:usedEntity", "prov:activity", "prov:generation", "prov:usage"),
}


class ProvnSink(_Relations):
    """One PROV-N container: its statements as UTF-8 lines (relations without identifiers), indented for the top
    level of the document or for a bundle."""

    def __init__(self, ids: Iterator[int], bundle: bool = False) -> None:
        self.buf = bytearray()
        self.pad = "    " if bundle else "  "
        self.ids = ids
        self._ids: dict[str, str] = {}

    def node(self, section: str, ident: str, attrs: dict[str, Any]) -> None:
        if section == "activity":
            attrs = dict(attrs)
            start, end = attrs.pop("prov:startTime", None) or "-", attrs.pop("prov:endTime", None) or "-"
            line = f"{self.pad}activity({_provn_id(ident)}, {start}, {end}{_provn_attrs(attrs)})\n"
        else:
            line = f"{self.pad}{section}({_provn_id(ident)}{_provn_attrs(attrs)})\n"
        self.buf += line.encode("utf-8", "surrogatepass")

    def relation(self, section: str, body: dict[str, Any]) -> None:
        next(self.ids)
        names = _PROVN_ARGS[section]
        values = [_provn_id(body[n]) if n in body else "-" for n in names]
        attrs = {k: v for k, v in body.items() if k not in names}
        self.buf += f"{self.pad}{section}({', '.join(values)}{_provn_attrs(attrs)})\n".encode("utf-8", "surrogatepass")

    def _id(self, ident: str) -> str:
        """_provn_id(ident), remembered for the last few (a task's identifier is in each of its relations)."""
        found = self._ids.get(ident)
        if found is None:
            if len(self._ids) >= 64:
                self._ids.clear()
            found = self._ids[ident] = _provn_id(ident)
        return found

    def _line(self, text: str) -> None:
        next(self.ids)
        self.buf += text.encode("utf-8", "surrogatepass")

    def used(self, activity: str, entity: str, role: str) -> None:
        self._line(f"{self.pad}used({self._id(activity)}, {self._id(entity)}, -, [prov:role={_provn_literal(role)}])\n")

    def generated(self, entity: str, activity: str, role: str) -> None:
        self._line(
            f"{self.pad}wasGeneratedBy({self._id(entity)}, {self._id(activity)}, -, "
            f"[prov:role={_provn_literal(role)}])\n"
        )

    def associated(self, activity: str, agent: str) -> None:
        self._line(f"{self.pad}wasAssociatedWith({self._id(activity)}, {self._id(agent)}, -)\n")

    def started(self, activity: str, starter: str) -> None:
        self._line(f"{self.pad}wasStartedBy({self._id(activity)}, -, {self._id(starter)}, -)\n")

    def informed(self, informed: str, informant: str) -> None:
        self._line(f"{self.pad}wasInformedBy({self._id(informed)}, {self._id(informant)})\n")

    def derived(self, generated: str, used: str, activity: str) -> None:
        self._line(f"{self.pad}wasDerivedFrom({self._id(generated)}, {self._id(used)}, {self._id(activity)}, -, -)\n")

    def write(self, out: IO[bytes], indent: bytes, lead: bool = False) -> bool:
        out.write(self.buf)
        return bool(self.buf)


def _prefix_lines(pad: str) -> str:
    return "".join(f"{pad}prefix {p} <{uri}>\n" for p, uri in NAMESPACES.items())


def write_document(out: IO[bytes], fmt: str, top: Any, bundles: dict[str, Any]) -> None:
    """Write the document: the prefixes, the top-level container, then each bundle (bundle id -> sink)."""
    if fmt == "provn":
        out.write(("document\n" + _prefix_lines("  ")).encode())
        top.write(out, b"  ")
        for ident, sink in bundles.items():
            out.write(f"  bundle {_provn_id(ident)}\n{_prefix_lines('    ')}".encode())
            sink.write(out, b"    ")
            out.write(b"  endBundle\n")
        out.write(b"endDocument\n")
        return
    out.write(b'{"prefix":' + orjson.dumps(NAMESPACES))
    top.write(out, b"", lead=True)
    if bundles:
        out.write(b',\n"bundle":{')
        for i, (ident, sink) in enumerate(bundles.items()):
            out.write((b"," if i else b"") + b'\n"' + ident.encode() + b'":{')
            sink.write(out, b"  ")
            out.write(b"}")
        out.write(b"}")
    out.write(b"}\n")


SINKS = {"json": JsonSink, "provn": ProvnSink}
