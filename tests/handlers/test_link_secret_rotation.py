"""Secrets rotate without breaking links (issue 16, finding 5).

The start links are signed by their own secret (LinkSecret in template.yaml, generated there),
never by Dwolla's. Links are minted with its AWSCURRENT version; a key is accepted when
AWSCURRENT or AWSPREVIOUS signed it. So a link sent before one rotation keeps working, one two
rotations old does not, rotating Dwolla's credentials changes no link, and a container that has
not seen a rotation yet catches up (one re-read, at most every 30 s) instead of refusing the
links a fresher container minted for up to SECRET_CACHE_SECONDS.
"""

from __future__ import annotations

import json

import pytest

from reauth.security import link_key
from tests.support.aws import rotate_link_secret
from tests.support.constants import LINK_SECRET, WEBHOOK_SECRET
from tests.support.flow import Browser, bank_url
from tests.support.functions import new_container, serve

REFUSED = 400


def _create(api, dwolla) -> dict:
    status, request, _ = api.create(dwolla.seed_exchange("mx")["id"])
    assert status == 201, request
    return request


def _opens_and_starts(functions, start_url: str) -> None:
    """A customer's fresh browser opens the link and clicks the button: the bank page."""
    browser = Browser(functions.callback)
    assert browser.get(start_url)["statusCode"] == 200
    started = browser.click_start(start_url)
    assert started["statusCode"] == 200, started["body"][:300]
    assert bank_url(started).startswith("http")


def _key(start_url: str) -> str:
    return start_url.rpartition("key=")[2]


def test_a_link_made_before_a_rotation_opens_and_starts_after_it(api, dwolla, functions):
    request = _create(api, dwolla)

    rotated = rotate_link_secret(functions.session, functions.resources)
    new_container()  # a container that knows only the rotated secret

    _opens_and_starts(functions, request["startUrl"])
    # Answers about the request now carry a link signed by the new version: it works too.
    fresh = api.session(request["id"])[1]["startUrl"]
    assert _key(fresh) == link_key(rotated.encode(), request["id"]) != _key(request["startUrl"])
    assert Browser(functions.callback).get(fresh)["statusCode"] == 200


def test_a_link_two_rotations_old_is_refused(api, dwolla, functions):
    oldest = _create(api, dwolla)
    rotate_link_secret(functions.session, functions.resources)
    new_container()
    one_rotation_old = _create(api, dwolla)

    rotate_link_secret(functions.session, functions.resources)
    new_container()

    browser = Browser(functions.callback)
    assert browser.get(oldest["startUrl"])["statusCode"] == REFUSED
    assert browser.click_start(oldest["startUrl"])["statusCode"] == REFUSED
    assert browser.cookies == []  # nothing bound
    _opens_and_starts(functions, one_rotation_old["startUrl"])


def test_a_container_with_a_stale_cache_verifies_a_key_minted_by_a_fresh_one(
    api, dwolla, functions, clock
):
    stale = serve(clock=clock.now)  # a warm container: it has read the link secret
    _opens_and_starts(functions, _create(api, dwolla)["startUrl"])

    rotate_link_secret(functions.session, functions.resources)
    serve(clock=clock.now)  # a container started after the rotation mints the next link
    request = _create(api, dwolla)

    clock.advance(seconds=31)  # well within the stale container's 300 s cache
    from reauth import runtime

    runtime.use(stale)
    _opens_and_starts(functions, request["startUrl"])


def test_rotating_the_dwolla_credentials_keeps_every_link(api, dwolla, sandbox, functions):
    """The operator puts exactly what the template's output asks for: {"key","secret",
    "webhookSecret"}. No link key ever came from Dwolla's secret."""
    request = _create(api, dwolla)
    before = (sandbox.app.key, sandbox.app.secret)
    try:
        sandbox.app.key, sandbox.app.secret = "rotated-key-2b7e", "rotated-secret-91c04d5e"
        functions.session.client("secretsmanager").put_secret_value(
            SecretId=functions.resources.secret_id,
            SecretString=json.dumps(
                {
                    "key": sandbox.app.key,
                    "secret": sandbox.app.secret,
                    "webhookSecret": WEBHOOK_SECRET,
                }
            ),
        )
        dwolla.expire_tokens()
        new_container()

        _opens_and_starts(functions, request["startUrl"])
        assert api.session(request["id"])[1]["startUrl"] == request["startUrl"]
        assert _key(request["startUrl"]) == link_key(LINK_SECRET.encode(), request["id"])
    finally:
        sandbox.app.key, sandbox.app.secret = before


@pytest.fixture
def link_secret_reads(functions):
    """How many times this container read each version of the link secret, as it goes."""
    from reauth import runtime

    reads: list[str] = []

    def count(params, **_) -> None:
        if params.get("SecretId") == functions.resources.link_secret_id:
            reads.append(params.get("VersionStage", "AWSCURRENT"))

    new_container()
    runtime.boto_session().events.register(
        "before-parameter-build.secrets-manager.GetSecretValue", count
    )
    return reads


def test_a_container_that_mints_and_verifies_current_links_never_reads_the_previous_version(
    api, dwolla, functions, link_secret_reads
):
    rotate_link_secret(functions.session, functions.resources)  # an AWSPREVIOUS exists
    request = _create(api, dwolla)
    _opens_and_starts(functions, request["startUrl"])
    assert link_secret_reads == ["AWSCURRENT"]


def test_wrong_keys_make_a_container_reread_the_secret_at_most_once_per_30_seconds(
    api, dwolla, functions, clock, link_secret_reads
):
    serve(clock=clock.now)
    request = _create(api, dwolla)
    wrong = f"{request['startUrl'].partition('?key=')[0]}?key={'A' * 43}"
    browser = Browser(functions.callback)

    for _ in range(5):
        assert browser.get(wrong)["statusCode"] == REFUSED
    assert link_secret_reads == ["AWSCURRENT", "AWSPREVIOUS"]  # still fresh: no re-read

    clock.advance(seconds=31)
    for _ in range(5):
        assert browser.get(wrong)["statusCode"] == REFUSED
        clock.advance(seconds=5)
    assert link_secret_reads[2:] == ["AWSCURRENT", "AWSPREVIOUS"]  # one re-read in 25 s
    assert browser.get(request["startUrl"])["statusCode"] == 200
