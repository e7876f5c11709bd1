"""HTTP plumbing: a ThreadingHTTPServer in a background thread around `SandboxApp`."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from .api import DROP, Answer, Request, SandboxApp, dwolla_error
from .state import SandboxState
from .webhooks import WebhookSubscriptions

DEFAULT_KEY = "sandbox-key"
DEFAULT_SECRET = "sandbox-secret"  # the sandbox's well-known local credential


class DwollaSandbox:
    """A local Dwolla API for the re-authentication flow. See the package docstring."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        key: str = DEFAULT_KEY,
        secret: str = DEFAULT_SECRET,
        public_url: str | None = None,
        token_ttl: int = 3600,
        redirect_urls: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
        verbose: bool = False,
        webhook_time_scale: float = 1.0,
    ) -> None:
        self.host = host
        self.port = port
        self.public_url = public_url.rstrip("/") if public_url else None
        self.verbose = verbose
        self.state = SandboxState(token_ttl=token_ttl, redirect_urls=redirect_urls, clock=clock)
        self.webhooks = WebhookSubscriptions(clock=clock, link_base=lambda: self.link_base(None))
        self.webhooks.start_settings = self.webhooks.configure({"timeScale": webhook_time_scale})
        self.app = SandboxApp(self.state, key=key, secret=secret, webhooks=self.webhooks)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """Where this process reaches the sandbox (the bound address, not --public-url)."""
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        host, port = self._server.server_address[:2]
        return f"http://{_url_host(str(host))}:{port}"

    def start(self) -> DwollaSandbox:
        if self._server is not None:
            return self
        server = ThreadingHTTPServer((self.host, self.port), _Handler)
        server.daemon_threads = True
        server.sandbox = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="dwolla-sandbox", daemon=True
        )
        self._thread.start()
        self.webhooks.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        self.webhooks.stop()
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> DwollaSandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def link_base(self, host_header: str | None) -> str:
        """Base of Location and _links hrefs: --public-url, else the request's Host."""
        if self.public_url:
            return self.public_url
        if host_header:
            return f"http://{host_header}"
        return self.base_url


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like Dwolla; every answer has a Content-Length
    disable_nagle_algorithm = True  # small answers go out at once, not after a delayed ACK
    server_version = "DwollaSandbox/1.0"

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    @property
    def sandbox(self) -> DwollaSandbox:
        return self.server.sandbox  # type: ignore[attr-defined]

    def _handle(self) -> None:
        target = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=target.path or "/",
            query=target.query,
            headers=dict(self.headers.items()),
            body=self._read_body(),
            base_url=self.sandbox.link_base(self.headers.get("Host")),
        )
        try:
            answer = self.sandbox.app.handle(request)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            answer = dwolla_error("ServerError")
        if answer is DROP:
            self._drop_connection()
        else:
            self._send(answer)  # type: ignore[arg-type]

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, answer: Answer) -> None:
        if answer.body is None:
            data = b""
        elif isinstance(answer.body, str):
            data = answer.body.encode("utf-8")
        else:
            data = json.dumps(answer.body).encode("utf-8")
        self.send_response(answer.status)
        if answer.content_type and data:
            self.send_header("Content-Type", answer.content_type)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        try:
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the caller gave up waiting (e.g. a delay fault)

    def _drop_connection(self) -> None:
        """Close the socket without a single byte of answer (a dropped connection)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: object) -> None:
        if self.sandbox.verbose:
            super().log_message(format, *args)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
