"""python -m local.dwolla_sandbox: run the sandbox until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import threading

from .server import DEFAULT_KEY, DEFAULT_SECRET, DwollaSandbox


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.dwolla_sandbox", description="A local Dwolla API sandbox."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--key", default=DEFAULT_KEY)
    parser.add_argument("--secret", default=DEFAULT_SECRET)
    parser.add_argument("--public-url", default=None, help="base of Location and _links hrefs")
    parser.add_argument("--token-ttl", type=int, default=3600, help="access token lifetime (s)")
    parser.add_argument(
        "--redirect-url",
        action="append",
        default=[],
        help="a configured redirect URL (repeatable; also PUT /_admin/redirect-urls)",
    )
    parser.add_argument(
        "--webhook-time-scale",
        type=float,
        default=float(os.environ.get("DWOLLA_SANDBOX_WEBHOOK_TIME_SCALE", "1")),
        help="multiplies Dwolla's webhook retry schedule and 24 h pause rule (e.g. 0.0001)",
    )
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sandbox = DwollaSandbox(
        host=args.host,
        port=args.port,
        key=args.key,
        secret=args.secret,
        public_url=args.public_url,
        token_ttl=args.token_ttl,
        redirect_urls=args.redirect_url,
        verbose=args.verbose,
        webhook_time_scale=args.webhook_time_scale,
    )
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    sandbox.start()
    print(f"Dwolla sandbox listening on {sandbox.base_url}", flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
