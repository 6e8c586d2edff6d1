"""Facts about this host and process, computed once: host fields for tasks, system fields for workflows.

Never includes the process environment (it may hold secrets); extra_metadata is masked like captured values.
"""

from __future__ import annotations

import os
from functools import lru_cache

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["host_fields", "workflow_system_fields", "flowcept_version"]


def flowcept_version() -> str:
    from flowcept_core import __version__

    return __version__


@lru_cache(maxsize=1)
def _login_name() -> str | None:
    """getpass.getuser()'s answer, without importing getpass (and termios)."""
    for var in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        user = os.environ.get(var)
        if user:
            return user
    try:
        import pwd

        return pwd.getpwuid(os.getuid())[0]
    except Exception:
        try:
            return os.getlogin()
        except OSError:
            return None


@lru_cache(maxsize=1)
def _fqdn() -> str:
    import _socket  # socket.getfqdn()'s lookup without importing socket (its enums cost ~8 ms of a start-up)

    name = _socket.gethostname()
    try:
        # as bytes: a str is encoded with the "idna" codec, whose import (stringprep, unicodedata) costs ~25 ms
        host, aliases, _ = _socket.gethostbyaddr(name.encode("ascii") if name.isascii() else name)
        fqdn = next((a for a in [host, *aliases] if "." in a), host)
        if fqdn and fqdn != "localhost":
            return fqdn
    except OSError:
        pass
    return name or os.uname()[1]


@lru_cache(maxsize=1)
def host_fields() -> dict:
    """hostname/node_name/login_name of this process; the same dict for every call (callers copy from it)."""
    return {"hostname": _fqdn(), "node_name": os.uname()[1], "login_name": _login_name()}


def workflow_system_fields(sys_metadata: dict | None, extra_metadata: dict | None, limits: Any = None) -> dict:
    """System fields of a workflow message: user, sys_name, node_name, hostname, ips, environment_id, version.

    Called when the workflow message is built. ``extra_metadata`` is sanitized with limits (a ValueLimits; the
    defaults when None): storable values, secrets under secret-looking keys and URL passwords masked.
    """
    from flowcept_core.serialize import DEFAULT_LIMITS, sanitize

    limits = limits if limits is not None else DEFAULT_LIMITS
    sm = sys_metadata or {}
    uname = os.uname()
    fields = {
        "user": sm.get("login_name") or _login_name(),
        "sys_name": uname[0],
        "node_name": uname[1],
        "hostname": sm.get("hostname") or _fqdn(),
        "public_ip": sm.get("public_ip"),
        "private_ip": sm.get("private_ip"),
        "environment_id": sm.get("environment_id"),
        "flowcept_version": flowcept_version(),
    }
    if extra_metadata:
        fields["extra_metadata"] = sanitize(extra_metadata, limits)
    return {k: v for k, v in fields.items() if v is not None}
