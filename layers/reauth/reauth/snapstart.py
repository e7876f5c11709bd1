"""Lambda SnapStart's runtime hooks: nothing made before the snapshot outlives a restore.

With SnapStart (template parameter `SnapStart=PublishedVersions`) Lambda runs the init phase once,
when it publishes a version, snapshots the memory, and starts every later container from a copy.
What the copies would otherwise share, and must not:

- connections: the Dwolla urllib3 pool and the boto3 clients' pools hold sockets to peers that
  closed them long ago;
- caches that expire by the clock: the Dwolla access token, the secret (Dwolla's key and
  secret, the webhook and link secrets), the public base URL, the configuration;
- the `random` module's state: seeded once at init, it would give every copy the same sequence
  (the Dwolla retries' jitter would fire in step across containers).

So before the snapshot and after each restore, everything the composition root built is
forgotten (`runtime.reset()`: rebuilt on first use), and after a restore `random` is reseeded
from the OS. `secrets` and `uuid.uuid4` read the OS's randomness on every call: nothing to do.
Before the snapshot, the modules the first request would import lazily (boto3, Powertools'
parameters) are imported, so a restored container does not pay for them.

The handlers register the hooks by importing this module. `snapshot_restore_py` exists only in
Lambda's Python runtime (3.12 and later): elsewhere (tests, `sam local`, benchmarks) importing
this module registers nothing.
"""

from __future__ import annotations

import logging
import random

from . import runtime

logger = logging.getLogger(__name__)


def before_snapshot() -> None:
    """Init is done and Lambda is about to take the snapshot. What the first request would
    import lazily is imported now, into the snapshot (modules hold no connection and no
    credential); what holds a connection is dropped."""
    import boto3  # noqa: F401  (botocore's loaders: the first AWS client's largest cost)
    from aws_lambda_powertools.utilities import parameters  # noqa: F401  (the secret, SSM)

    runtime.reset()


def after_restore() -> None:
    """A container starts from the snapshot: nothing cached or seeded before it is reused."""
    runtime.reset()
    random.seed()  # from os.urandom: each restored container gets its own sequence
    logger.info("restored from a SnapStart snapshot: caches dropped, random reseeded")


def register() -> bool:
    """Register the hooks with Lambda's runtime; False where there is no SnapStart runtime."""
    try:
        from snapshot_restore_py import (  # untyped, Lambda-only: see [tool.mypy] overrides
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return False
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)
    return True


registered = register()
