"""SnapStart restores, on a container that served requests (moto and the Dwolla sandbox): after
the hooks nothing from before the snapshot is reused, not the Dwolla connection pool, not the
Dwolla access token, not the cached secret, not the boto3 session, not the relay. The template
and the hooks' registration are checked in the pure tier (tests/unit/test_snapstart.py).
"""

from __future__ import annotations

import pytest


# ---- what a restore drops --------------------------------------------------------------------
class SecretReads:
    """Counts Secrets Manager reads on the container's boto3 session."""

    def __init__(self) -> None:
        self.count = 0

    def watch(self) -> SecretReads:
        from reauth import runtime

        runtime.boto_session().events.register("before-parameter-build", self)
        return self

    def __call__(self, model, **_) -> None:
        if model.name == "GetSecretValue":
            self.count += 1


def _warm(dwolla_admin) -> tuple:
    """A container that served a request: a Dwolla token minted, a connection pooled, the secret
    cached. Returns the service, its Dwolla client and the secret reads seen."""
    from reauth import runtime

    exchange = dwolla_admin.seed_exchange("mx")["id"]
    reads = SecretReads().watch()
    service = runtime.service()
    client = service.ctx.dwolla
    for _ in range(2):  # the second call reuses all three
        client.get_exchange(exchange)
    assert client.stats.token_mints == 1 and reads.count == 1
    assert client.pooled_hosts, "no connection pooled"
    return service, client, reads, exchange


@pytest.mark.parametrize("hook", ["after_restore", "before_snapshot"])
def test_a_restore_drops_the_pool_the_token_and_the_secret_and_rebuilds_them(
    service_env, dwolla, hook
):
    from reauth import runtime, snapstart

    service, client, reads, exchange = _warm(dwolla)
    session, settings = runtime.boto_session(), runtime.config()

    getattr(snapstart, hook)()

    assert runtime.boto_session() is not session  # its clients' connection pools with it
    assert runtime.config() is not settings
    reads_now = SecretReads().watch()
    rebuilt = runtime.service()
    assert rebuilt is not service
    fresh = rebuilt.ctx.dwolla
    assert fresh is not client and fresh.pooled_hosts == 0
    assert fresh.stats.token_mints == 0
    fresh.get_exchange(exchange)
    assert fresh.stats.token_mints == 1, "the token was not minted again"
    assert reads_now.count == 1, "the secret was not read again"
    assert reads.count == 1  # nothing more went through the old session


def test_a_restore_drops_the_relay_too(service_env):
    from reauth import runtime, snapstart

    relay = runtime.relay()
    snapstart.after_restore()
    assert runtime.relay() is not relay
