"""UIServer: the HTTP server of ``flowcept ui`` (standard library only: ThreadingHTTPServer).

Read-only: GET and HEAD only. Bound to 127.0.0.1 by default; bound to anything else it requires a token, given as
``Authorization: Bearer <token>``, as ``?token=<token>`` once (the page then keeps it in a cookie), or in the
``flowcept_ui_token`` cookie. Every error is JSON ``{"error": {"status": ..., "message": ...}}`` with that status,
never a stack trace (those go to the server's log).

Example::

    server = UIServer(settings, port=0)      # port 0: any free port
    server.start()                           # serves in a background thread
    print(server.url)                        # http://127.0.0.1:PORT/
    server.stop()
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import select
import socket
import threading
import time
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson

from flowcept_ui.data import Browser
from flowcept_ui.params import ApiError, NotFoundError

__all__ = ["UIServer", "is_loopback", "POLL_SECS"]

POLL_SECS = 0.3  # the live view's store poll
KEEPALIVE_SECS = 15.0
_STATIC = Path(__file__).parent / "static"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_PAGES = ("workflows", "tasks", "campaigns")
_COOKIE = "flowcept_ui_token"
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
log = logging.getLogger("flowcept_ui")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost (no token needed there)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    return str(value)


def dumps(obj: Any) -> bytes:
    """JSON bytes (non-string keys as strings, unknown values as their str)."""
    return orjson.dumps(obj, default=_json_default, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)


class UIServer:
    """The provenance browser's server over ``settings``' read store. token: required from clients when set;
    generated when host is not loopback and none is given."""

    def __init__(
        self,
        settings: Any,
        host: str = "127.0.0.1",
        port: int = 5000,
        token: str | None = None,
        poll_secs: float = POLL_SECS,
        warm: int = 0,
    ):
        if not is_loopback(host) and not token:
            token = secrets.token_urlsafe(24)
        self.token = token
        self.poll_secs = poll_secs
        self.browser = Browser(settings)
        self.stopping = threading.Event()
        self.httpd = ThreadingHTTPServer((host, port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.ui = self  # type: ignore[attr-defined]
        self.assets = {p.name: p.read_bytes() for p in _STATIC.iterdir() if p.is_file()}
        self.warm = warm  # the most recent workflows whose page figures are computed in the background at start
        self._thread: threading.Thread | None = None
        self._serving: threading.Thread | None = None  # the thread in serve_forever, while it serves

    @property
    def host(self) -> str:
        return str(self.httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}/"

    def serve_forever(self) -> None:
        """Serve until stop() (or KeyboardInterrupt in the caller); warms the recent workflows' figures first, in
        the background."""
        if self.warm:
            threading.Thread(target=self._warm, name="flowcept-ui-warm", daemon=True).start()
        self._serving = threading.current_thread()
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        finally:
            self._serving = None

    def _warm(self) -> None:
        try:
            self.browser.warm(self.warm)
        except Exception as e:  # a store that cannot answer yet: the pages will say so
            log.warning("flowcept ui: warming the recent workflows failed: %s", e)

    def prefetch(self, workflow_id: str) -> None:
        """Compute a workflow's figures in the background while its page loads (its API calls then wait for this
        computation instead of starting their own); an unknown workflow or a failing store is left to the API."""

        def run() -> None:
            try:
                self.browser.workflow_record(workflow_id)
                self.browser.figures(workflow_id)
            except Exception as e:
                log.debug("flowcept ui: prefetching %s: %s", workflow_id, e)

        threading.Thread(target=run, name="flowcept-ui-prefetch", daemon=True).start()

    def start(self) -> UIServer:
        """Serve in a daemon thread; returns self."""
        self._thread = threading.Thread(target=self.serve_forever, name="flowcept-ui", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (live views end) and close the socket; idempotent."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        serving = self._serving
        if serving is not None and serving is not threading.current_thread():
            self.httpd.shutdown()  # waits for the serving loop to end (never called from the loop's own thread)
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "flowcept-ui"
    sys_version = ""

    @property
    def ui(self) -> UIServer:
        return self.server.ui  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    # -- methods -----------------------------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._handle(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle(head=True)

    def _refuse(self) -> None:
        self._send_json(
            {
                "error": {
                    "status": 405,
                    "message": f"{self.command} is not allowed: the provenance "
                    "browser is read-only (GET and HEAD only)",
                }
            },
            405,
            extra={"Allow": "GET, HEAD"},
        )

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse  # noqa: N815

    def _handle(self, head: bool) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        parts = [unquote(s) for s in url.path.split("/") if s]
        try:
            if not self._authorized(query, parts):
                return
            if parts[:1] == ["api"]:
                self._api(parts[1:], query, head)
            else:
                self._page(parts, head)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _authorized(self, query: dict, parts: list[str]) -> bool:
        token = self.ui.token
        if not token:
            return True
        given = None
        header = self.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            given = header[7:].strip()
        if given is None and query.get("token"):
            given = query["token"]
        if given is None:
            cookie = SimpleCookie(self.headers.get("Cookie", ""))
            given = cookie[_COOKIE].value if _COOKIE in cookie else None
        if given is not None and hmac.compare_digest(given.encode(), token.encode()):
            if query.get("token") and parts[:1] != ["api"]:  # keep it in a cookie, drop it from the address
                rest = "&".join(f"{k}={v}" for k, v in query.items() if k != "token")
                target = urlsplit(self.path).path + (f"?{rest}" if rest else "")
                self._send(
                    b"",
                    303,
                    "text/plain",
                    extra={"Location": target, "Set-Cookie": f"{_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"},
                )
                return False
            return True
        self._send_json(
            {
                "error": {
                    "status": 401,
                    "message": "this server requires its token (printed at start): "
                    "open the address with ?token=TOKEN or send Authorization: Bearer TOKEN",
                }
            },
            401,
            extra={"WWW-Authenticate": "Bearer"},
        )
        return False

    # -- pages and assets --------------------------------------------------------------------------------------------

    def _page(self, parts: list[str], head: bool) -> None:
        if parts[:1] == ["static"] and len(parts) == 2 and parts[1] in self.ui.assets:
            name = parts[1]
            ctype = _TYPES.get(Path(name).suffix, "application/octet-stream")
            self._send(self.ui.assets[name], 200, ctype, head, {"Cache-Control": "max-age=300"})
        elif not parts or (len(parts) == 2 and parts[0] in _PAGES):
            if parts and parts[0] == "workflows" and not head:  # the page will ask for its figures: start now
                self.ui.prefetch(parts[1])
            self._send(self.ui.assets["index.html"], 200, _TYPES[".html"], head, {"Cache-Control": "no-cache"})
        else:
            self._send(b"Not found: " + self.path.encode("utf-8", "replace"), 404, "text/plain; charset=utf-8", head)

    # -- API ---------------------------------------------------------------------------------------------------------

    def _api(self, parts: list[str], query: dict, head: bool) -> None:
        b = self.ui.browser
        try:
            if parts == ["openapi.json"]:
                from flowcept_ui.openapi import openapi_document

                body = openapi_document()
            elif parts == ["workflows"]:
                body = b.workflows(query)
            elif len(parts) == 2 and parts[0] == "workflows":
                body = b.workflow(parts[1])
            elif len(parts) == 3 and parts[0] == "workflows" and parts[2] == "tasks":
                body = b.tasks(parts[1], query)
            elif len(parts) == 3 and parts[0] == "workflows" and parts[2] == "charts":
                body = b.workflow_charts(parts[1])
            elif len(parts) == 3 and parts[0] == "workflows" and parts[2] == "updates":
                body = b.updates(parts[1], query)
            elif len(parts) == 3 and parts[0] == "workflows" and parts[2] == "state":
                b.workflow_record(parts[1])
                body = b.state(parts[1])
            elif len(parts) == 3 and parts[0] == "workflows" and parts[2] == "events":
                b.workflow_record(parts[1])
                return self._events(parts[1], head)
            elif len(parts) == 2 and parts[0] == "tasks":
                body = b.task(parts[1])
            elif len(parts) == 2 and parts[0] == "campaigns":
                body = b.campaign(parts[1], query)
            else:
                raise NotFoundError(f"no API path /api/{'/'.join(parts)}; see /api/openapi.json")
        except Exception as e:
            status, message = _error_of(e)
            self._send_json({"error": {"status": status, "message": message}}, status, head=head)
            return
        self._send_json(body, 200, head=head)

    def _events(self, workflow_id: str, head: bool) -> None:
        """Server-sent events: ``event: state`` with the workflow's task count and status, sent at once and on
        every change (the store is polled every poll_secs), and a comment every KEEPALIVE_SECS."""
        self.send_response(200)
        for k, v in {
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
            "Connection": "close",
            **_SECURITY_HEADERS,
        }.items():
            self.send_header(k, v)
        self.end_headers()
        self.close_connection = True
        if head:
            return
        try:
            self._stream(workflow_id)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the page was closed

    def _stream(self, workflow_id: str) -> None:
        ui, last, written = self.ui, None, time.monotonic()
        self.wfile.write(b"retry: 1000\n\n")
        while not ui.stopping.is_set():
            try:
                state = ui.browser.state(workflow_id)
            except Exception as e:
                state = {"error": _error_of(e)[1]}
            if state != last:
                self.wfile.write(b"event: state\ndata: " + dumps(state) + b"\n\n")
                self.wfile.flush()
                last, written = state, time.monotonic()
            elif time.monotonic() - written > KEEPALIVE_SECS:
                self.wfile.write(b": keepalive\n\n")
                self.wfile.flush()
                written = time.monotonic()
            ui.stopping.wait(ui.poll_secs)
            if _closed(self.connection):  # the page went away: stop polling for it
                return

    # -- responses ---------------------------------------------------------------------------------------------------

    def _send_json(self, obj: Any, status: int, head: bool = False, extra: dict | None = None) -> None:
        self._send(dumps(obj), status, "application/json", head, {"Cache-Control": "no-store", **(extra or {})})

    def _send(self, body: bytes, status: int, ctype: str, head: bool = False, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in {**_SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)


def _closed(sock: socket.socket) -> bool:
    """True when the client closed its end (readable, with nothing to read)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def _error_of(e: Exception) -> tuple[int, str]:
    """(HTTP status, message) for an exception raised while answering; unexpected ones are logged, not shown."""
    if isinstance(e, ApiError):
        return e.status, str(e)
    from flowcept_core.plugin import FilterError, NoDatabaseError, StoreUnavailableError

    if isinstance(e, FilterError):
        return 400, str(e)
    if isinstance(e, (NoDatabaseError, StoreUnavailableError)):
        return 503, str(e)
    log.exception("flowcept ui: error while answering")
    return 500, f"internal error ({type(e).__name__}); the server's log has the details"
