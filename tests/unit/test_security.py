"""Pure checks of what stands between a browser and a request: link keys, binding cookies, CSRF
tokens, the same-origin rule, and the settings that shape the pages. No AWS, no servers."""

import uuid

import pytest

from reauth.config import Config, ConfigError
from reauth.ids import normalize_uuid, valid_idempotency_key
from reauth.security import (
    BINDING_COOKIE,
    MAX_BOUND_REQUESTS,
    BrowserBinding,
    binding_cookie,
    csrf_attempt,
    csrf_token,
    link_key,
    link_key_matches,
    new_secret,
    read_binding,
    same_origin,
)

SECRET = b"a-link-secret-of-at-least-32-bytes-long"
BASE = "https://reauth.example.test/v1"


def test_a_link_key_is_stable_per_request_and_worthless_for_another():
    request, other = str(uuid.uuid4()), str(uuid.uuid4())
    key = link_key(SECRET, request)
    assert key == link_key(SECRET, request)
    assert link_key_matches(SECRET, request, key)
    assert not link_key_matches(SECRET, other, key)
    assert not link_key_matches(b"another-secret-another-secret-xx", request, key)


@pytest.mark.parametrize("presented", [None, "", "short", "A" * 43, "key\n", "k" * 500])
def test_anything_but_the_right_key_is_refused(presented):
    assert not link_key_matches(SECRET, str(uuid.uuid4()), presented)


def test_one_binding_cookie_holds_the_token_and_the_latest_requests():
    token, requests = new_secret(), [str(uuid.uuid4()) for _ in range(3)]
    binding = BrowserBinding(token)
    for request_id in requests:
        binding = binding.with_request(request_id)
    cookie = binding_cookie(binding, "/v1/reauth/", 600)
    assert cookie.startswith(f"{BINDING_COOKIE}={token}.{requests[2].replace('-', '')}.")
    for attribute in ("Path=/v1/reauth/", "Max-Age=600", "HttpOnly", "Secure", "SameSite=Lax"):
        assert attribute in cookie
    pair = cookie.split(";", 1)[0]
    assert read_binding([f"theme=dark; {pair}"]) == BrowserBinding(token, tuple(reversed(requests)))


def test_the_binding_cookie_stays_bounded_however_many_requests():
    """Ten requests in a day, or a hundred: one cookie, the latest MAX_BOUND_REQUESTS named."""
    binding, made = BrowserBinding(new_secret()), [str(uuid.uuid4()) for _ in range(100)]
    for request_id in made:
        binding = binding.with_request(request_id)
    pair = binding_cookie(binding, "/", 1).split(";", 1)[0]
    assert len(pair) < 650
    assert read_binding([pair]).request_ids == tuple(reversed(made))[:MAX_BOUND_REQUESTS]


def test_binding_a_request_again_moves_it_first_and_drops_the_ended():
    binding = BrowserBinding(new_secret(), ("a", "b", "c"))
    assert binding.with_request("c").request_ids == ("c", "a", "b")
    assert binding.with_request("d", keep={"b"}).request_ids == ("d", "b")


@pytest.mark.parametrize(
    "header",
    [
        f"{BINDING_COOKIE}=short",  # not a token
        f"{BINDING_COOKIE}={'t' * 43}.zz",  # a malformed id is dropped, the token kept
        "reauth_other=" + "t" * 43,
    ],
)
def test_malformed_binding_cookies_are_ignored(header):
    binding = read_binding([header])
    assert binding.request_ids == ()
    assert binding.token in (None, "t" * 43)


def test_a_repeated_binding_cookie_is_ambiguous_and_ignored():
    value = f"{new_secret()}.{uuid.uuid4().hex}"
    assert read_binding([f"{BINDING_COOKIE}={value}; {BINDING_COOKIE}={value}"]) == BrowserBinding()


def test_the_csrf_token_names_its_attempt_and_comes_from_the_binding_token_only():
    token, attempt = new_secret(), str(uuid.uuid4())
    csrf = csrf_token(token, attempt)
    assert csrf_attempt(token, csrf) == attempt
    assert csrf_attempt(new_secret(), csrf) is None
    other = str(uuid.uuid4())
    assert csrf_attempt(token, other + csrf[len(attempt) :]) is None  # another attempt's name
    assert csrf_attempt(token, None) is None and csrf_attempt(token, "") is None


@pytest.mark.parametrize(
    ("origin", "fetch_site", "allowed"),
    [
        ("https://reauth.example.test", "same-origin", True),
        ("https://REAUTH.example.test/", None, True),
        (None, None, True),  # not a browser's cross-site POST (a browser sends Origin)
        ("https://evil.example", "cross-site", False),
        ("https://evil.example", None, False),
        ("null", "same-origin", False),  # what no-referrer pages send: refused, so pages don't
        ("https://reauth.example.test", "cross-site", False),
        ("https://reauth.example.test", "same-site", False),
        ("http://reauth.example.test", None, False),
    ],
)
def test_browser_posts_must_come_from_the_service_itself(origin, fetch_site, allowed):
    assert same_origin(origin, fetch_site, BASE) is allowed


@pytest.mark.parametrize(
    "value", [f"{uuid.uuid4()}\n", f" {uuid.uuid4()}", "x" + str(uuid.uuid4())]
)
def test_ids_must_match_in_full(value):
    assert normalize_uuid(value) is None


def test_idempotency_keys_must_match_in_full():
    assert valid_idempotency_key("order-42")
    assert not valid_idempotency_key("order-42\n")


def _env(**extra: str) -> dict[str, str]:
    return {
        "TABLE_NAME": "t",
        "EVENT_BUS_NAME": "b",
        "DWOLLA_SECRET_ID": "s",
        "LINK_SECRET_ID": "l",
        "PUBLIC_BASE_URL": BASE,
        **extra,
    }


def test_a_deployment_without_the_link_secret_is_a_config_error_naming_it():
    env = _env()
    del env["LINK_SECRET_ID"]
    with pytest.raises(ConfigError, match="LINK_SECRET_ID"):
        Config.from_environment(env)


def test_the_journey_settings_have_safe_defaults():
    config = Config.from_environment(_env())
    assert config.request_lifetime_days == 7
    assert config.platform_name == ""  # the pages and messages say "your app" / "tu app"
    assert config.default_locale == "en"
    assert config.plaid_link_script_url.startswith("https://cdn.plaid.com/")


@pytest.mark.parametrize(
    "extra",
    [
        {"REQUEST_LIFETIME_DAYS": "31"},
        {"REQUEST_LIFETIME_DAYS": "0"},
        {"PLAID_LINK_SCRIPT_URL": "http://cdn.example.com/link.js"},  # http off this machine
        {"PLAID_LINK_SCRIPT_URL": "javascript:alert(1)"},
        {"PLATFORM_DISPLAY_NAME": "x" * 61},
        {"PLATFORM_DISPLAY_NAME": "Acme\x07Pay"},
        {"DEFAULT_LOCALE": "fr"},  # a language the catalogue does not have
        {"DEFAULT_LOCALE": "spanish"},
    ],
)
def test_unsafe_journey_settings_stop_the_function_at_cold_start(extra):
    with pytest.raises(ConfigError, match=next(iter(extra))):
        Config.from_environment(_env(**extra))


def test_the_default_locale_is_a_language_the_catalogue_has():
    assert Config.from_environment(_env(DEFAULT_LOCALE="es")).default_locale == "es"
    assert Config.from_environment(_env(DEFAULT_LOCALE=" es-US ")).default_locale == "es"
    assert Config.from_environment(_env(DEFAULT_LOCALE="")).default_locale == "en"


def test_a_local_stand_in_for_plaids_script_is_accepted_on_the_docker_bridge():
    config = Config.from_environment(
        _env(PLAID_LINK_SCRIPT_URL="http://172.17.0.1:8787/_plaid/link-initialize.js")
    )
    assert config.plaid_link_script_url.startswith("http://172.17.0.1")


@pytest.mark.parametrize(
    ("extra", "complaint"),
    [
        ({"PUBLIC_BASE_URL": "http://reauth.example.com"}, "PUBLIC_BASE_URL must use https"),
        ({"PUBLIC_BASE_URL": "reauth.example.com/v1"}, "PUBLIC_BASE_URL must be an absolute"),
        ({"CALLBACK_URL": "https://other.example.com/cb"}, "CALLBACK_URL must be on the same host"),
        ({"CALLBACK_URL": "https://reauth.example.test/cb?x=1"}, "CALLBACK_URL must not carry"),
    ],
)
def test_the_services_own_urls_are_checked_at_cold_start(extra, complaint):
    with pytest.raises(ConfigError, match=complaint):
        Config.from_environment(_env(**extra))


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://bank.example/connect?x=1", True),
        ("http://172.17.0.1:8787/_provider/x", True),  # the local sandbox on the Docker bridge
        ("http://bank.example/connect", False),
        ("javascript:alert(1)", False),
        ("https://user:pw@bank.example/", False),
    ],
)
def test_only_an_https_handoff_becomes_where_the_browser_goes(url, safe):
    from reauth.config import is_safe_handoff_url

    assert is_safe_handoff_url(url) is safe
