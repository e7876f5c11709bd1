"""A platform's webhook receiver on 127.0.0.1 (what a backend off AWS runs), and the
verification code of docs/platform-webhooks.md, loaded from the doc as a receiver pastes it."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.support.constants import ROOT

DOC = ROOT / "docs" / "platform-webhooks.md"


def doc_snippet(doc: Path = DOC) -> dict:
    """The names the doc's "Verifying a delivery" Python block defines (verify, Refused)."""
    text = doc.read_text()
    section = text[text.index("## Verifying a delivery") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, f"{doc.name} lost its Python snippet"
    namespace: dict = {}
    exec(compile(code[1], str(doc), "exec"), namespace)  # noqa: S102 (our own docs)
    return namespace


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered


class PlatformReceiver:
    """POSTs to `url` are recorded and answered 204, or with the statuses in `answers` first."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.answers.pop(0) if receiver.answers else 204
                receiver.received.append(Received(dict(self.headers.items()), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hooks/reauth"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> PlatformReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
