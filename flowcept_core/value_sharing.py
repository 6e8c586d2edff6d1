"""One str object per repeated value of decoded messages (type, ids, status, host): read by buffer-file and retained
readers right after decoding a block."""

from __future__ import annotations

__all__ = ["ValueSharer"]


class ValueSharer:
    """Makes the values that repeat on nearly every message (type, ids, status, host) one str object each.

    Called on successive lists of decoded messages: a value equal to the previous message's (the usual case in a
    buffer file) costs one comparison; a new one is looked up in a table. Saves ~300 bytes per task message.
    """

    __slots__ = ("table", "last")

    def __init__(self) -> None:
        self.table: dict[str, str] = {}
        self.last: list = [None] * 8

    def __call__(self, msgs: list) -> None:
        sd = self.table.setdefault
        typ, wf, act, st, camp, host, node, login = self.last
        # unrolled: a loop over the field names costs twice as much
        for msg in msgs:
            try:
                v = msg["type"]
                if v == typ:
                    msg["type"] = typ
                elif v.__class__ is str:
                    msg["type"] = typ = sd(v, v)
                v = msg["workflow_id"]
                if v == wf:
                    msg["workflow_id"] = wf
                elif v.__class__ is str:
                    msg["workflow_id"] = wf = sd(v, v)
                v = msg["activity_id"]
                if v == act:
                    msg["activity_id"] = act
                elif v.__class__ is str:
                    msg["activity_id"] = act = sd(v, v)
                v = msg["status"]
                if v == st:
                    msg["status"] = st
                elif v.__class__ is str:
                    msg["status"] = st = sd(v, v)
                v = msg["campaign_id"]
                if v == camp:
                    msg["campaign_id"] = camp
                elif v.__class__ is str:
                    msg["campaign_id"] = camp = sd(v, v)
                if "hostname" not in msg:  # host fields come together (project.enrich_messages)
                    continue
                v = msg["hostname"]
                if v == host:
                    msg["hostname"] = host
                elif v.__class__ is str:
                    msg["hostname"] = host = sd(v, v)
                v = msg["node_name"]
                if v == node:
                    msg["node_name"] = node
                elif v.__class__ is str:
                    msg["node_name"] = node = sd(v, v)
                v = msg["login_name"]
                if v == login:
                    msg["login_name"] = login
                elif v.__class__ is str:
                    msg["login_name"] = login = sd(v, v)
                continue
            except (KeyError, TypeError):  # not a task-shaped dict: a workflow message, a sparse line, a list
                if msg.__class__ is not dict:
                    continue
            for k in _SHARED_FIELDS:
                v = msg.get(k)
                if v.__class__ is str:
                    msg[k] = sd(v, v)
        self.last[:] = (typ, wf, act, st, camp, host, node, login)


_SHARED_FIELDS = ("type", "workflow_id", "campaign_id", "activity_id", "status", "hostname", "node_name", "login_name")
