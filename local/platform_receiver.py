"""A platform's webhook receiver on 127.0.0.1 (what a backend off AWS runs), and the
verification code of docs/platform-webhooks.md, loaded from the doc as a receiver pastes it.
`make demo` and the tests receive the service's signed webhooks with it."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "platform-webhooks.md"


def doc_snippet(doc: Path = DOC) -> dict:
    """The names the doc's "Verifying a delivery" Python block defines (verify, Refused)."""
    text = doc.read_text()
    section = text[text.index("## Verifying a delivery") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    if code is None:
        raise LookupError(f"{doc.name} lost its Python snippet")
    namespace: dict = {}
    exec(compile(code[1], str(doc), "exec"), namespace)  # noqa: S102 (our own docs)
    return namespace


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered


class PlatformReceiver:
    """POSTs to `url` are recorded and answered 204, or with the statuses in `answers` first
    (or, for one event, in `answers_for[<its X-Reauth-Event-Id>]` first).

    `host`: 127.0.0.1, or the Docker bridge's gateway for a function in a container (which
    reaches it as host.docker.internal: `url_from_docker`)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.received: list[Received] = []
        self.answers: list[int] = []
        self.answers_for: dict[str, list[int]] = {}
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver._answer(self.headers.get("X-Reauth-Event-Id", ""))
                with receiver._arrived:  # recorded before the sender has its answer
                    receiver.received.append(Received(dict(self.headers.items()), body, status))
                    receiver._arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer((host, 0), Handler)
        path = f":{self._server.server_port}/hooks/reauth"
        self.url = f"http://{host}{path}"
        self.url_from_docker = f"http://host.docker.internal{path}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _answer(self, event_id: str) -> int:
        planned = self.answers_for.get(event_id)
        if planned:
            return planned.pop(0)
        return self.answers.pop(0) if self.answers else 204

    def wait_for(self, done: Callable[[list[Received]], bool], timeout: float) -> list[Received]:
        """What arrived, once `done(what arrived)` holds or `timeout` seconds have passed."""
        with self._arrived:
            self._arrived.wait_for(lambda: done(list(self.received)), timeout)
            return list(self.received)

    def __enter__(self) -> PlatformReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
