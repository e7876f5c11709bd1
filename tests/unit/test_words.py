"""The catalogue (reauth.words): every language has every key, with the same placeholders;
and the choice of a customer's language."""

from __future__ import annotations

import string
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from reauth import messages, words
from reauth.messages import SMS_FORMS, sms_units
from reauth.words import CATALOGUE, DEFAULT_LANGUAGE, browser_language, choose_locale

SEPTEMBER = datetime(2026, 9, 2, tzinfo=UTC)  # the longest short month: "sept"
LISTS = {"months": 12, "months.short": 12, "weekdays": 7}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_the_service_speaks_english_and_spanish_and_defaults_to_english():
    assert words.LANGUAGES == ("en", "es")
    assert DEFAULT_LANGUAGE == "en"


@pytest.mark.parametrize("lang", sorted(CATALOGUE))
def test_every_language_has_exactly_the_default_languages_keys(lang):
    reference, table = set(CATALOGUE[DEFAULT_LANGUAGE]), set(CATALOGUE[lang])
    assert reference - table == set(), f"missing in {lang}"
    assert table - reference == set(), f"only in {lang}: add it to every language"


@pytest.mark.parametrize("lang", sorted(CATALOGUE))
def test_every_key_uses_the_same_placeholders_in_every_language(lang):
    for key, text in CATALOGUE[DEFAULT_LANGUAGE].items():
        assert placeholders(CATALOGUE[lang][key]) == placeholders(text), (lang, key)


@pytest.mark.parametrize("lang", sorted(CATALOGUE))
def test_every_text_is_said_and_every_list_is_complete(lang):
    for key, text in CATALOGUE[lang].items():
        assert text.strip() == text and text, (lang, key)
        assert "  " not in text, (lang, key)
    for key, count in LISTS.items():
        assert len([w for w in CATALOGUE[lang][key].split(",") if w.strip()]) == count


def test_spanish_is_not_english():
    same = [k for k, v in CATALOGUE["es"].items() if v == CATALOGUE["en"][k]]
    # Only the formats that happen to read the same in both.
    assert same == ["date.clock"]


def test_a_locale_picks_its_languages_table_and_an_unknown_one_reads_english():
    assert words.words("es-MX") is CATALOGUE["es"]
    assert words.words("ES_us") is CATALOGUE["es"]
    assert words.words("en-GB") is CATALOGUE["en"]
    assert words.words("fr-FR") is CATALOGUE["en"]
    assert words.words(None) is CATALOGUE["en"]


# --- choosing the language ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_locale", "accept", "default", "chosen"),
    [
        ("es-MX", "en-US,en;q=0.9", "en", "es"),  # the request's locale comes first
        ("en-US", "es", "es", "en"),
        ("fr-FR", "es-419,es;q=0.9", "en", "es"),  # a locale we don't speak: the browser's
        (None, "es-US,es;q=0.9,en;q=0.8", "en", "es"),
        (None, "en-US,en;q=0.9,es;q=0.8", "es", "en"),
        (None, "fr-CA,fr;q=0.9,es;q=0.5,en;q=0.4", "en", "es"),  # the best one we speak
        (None, "en;q=0.2, es;q=0.7", "en", "es"),  # q-values, not order
        (None, "es;q=0.5, en;q=0.5", "en", "es"),  # a tie: the header's order
        (None, "fr, de", "es", "es"),  # none we speak: the deployment's default
        (None, "*", "es", "es"),
        (None, "es;q=0, *;q=0.5", "en", "en"),  # q=0: not Spanish
        (None, "es;q=abc, en;q=0.1", "es", "en"),  # a malformed q-value: that range skipped
        (None, "es;level=1", "en", "en"),
        (None, "es;q=1.5", "en", "en"),
        (None, "", "es", "es"),
        (None, None, "es", "es"),
        (None, None, "es-MX", "es"),
        (None, None, None, "en"),
        (None, None, "fr", "en"),  # a default we don't speak (config refuses it) reads English
    ],
)
def test_choose_locale(request_locale, accept, default, chosen):
    assert choose_locale(request_locale, accept, default) == chosen


def test_a_huge_accept_language_is_read_only_so_far():
    assert browser_language("fr," * 400 + "es") is None
    assert browser_language(",".join(["de"] * 20 + ["es"])) is None
    assert browser_language(" es-MX ; q=0.8 ") == "es"


@pytest.mark.parametrize("lang", sorted(CATALOGUE))
def test_the_sms_forms_keep_to_gsm7_so_one_segment_holds_160_characters(lang):
    table = CATALOGUE[lang]
    for key in SMS_FORMS:
        sample = table[key].format(Platform="Acme", deadline=deadline_text(lang), link="x")
        assert sms_units(sample)[0] is True, (lang, key)


def deadline_text(lang: str) -> str:
    return messages.deadline_text(SEPTEMBER, ZoneInfo("UTC"), lang, short=True)
