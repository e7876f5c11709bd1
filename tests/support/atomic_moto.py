"""moto server with DynamoDB's atomicity: one request at a time, over real HTTP.

    python -m tests.support.atomic_moto --host 127.0.0.1 --port 5005

Why: moto server answers requests in threads, and its `TransactWriteItems` checks every
condition, then writes, and on failure restores a deep copy of the whole table. Two concurrent
transactions can therefore both pass a condition that only one may pass, and a rolled-back one
can undo the other's committed write. Seen here: 24 concurrent two-item transactions on a table of
400 items, each conditioned on attribute_not_exists of one shared item: two succeeded.
Real DynamoDB makes every request atomic and transactions serializable. This server serves moto's
own application behind one lock, so each request is atomic, as in DynamoDB, while callers still
interleave freely between their requests: the races the service must survive (read, then
conditional write) stay real, and the conditions are what decides them.
"""

from __future__ import annotations

import argparse
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class AtomicRequests:
    """A WSGI middleware: the wrapped application sees one request at a time."""

    def __init__(self, app) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self._lock:
            # Read the whole answer inside the lock: moto builds it eagerly anyway.
            return list(self._app(environ, start_response))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    app = AtomicRequests(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
