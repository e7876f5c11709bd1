"""The catalogue: every word a customer reads, one module per language (words_en.py,
words_es.py), and the choice of the language a customer reads.

Pages (pages.py) and messages (messages.py) take a locale and read their words here, never a
hard-coded string. A locale picks the table by its language ("es-MX" -> "es"); one this
service does not speak reads the default language's table. Every table has the same keys, and
each key the same placeholders in every language (tests/unit/test_words.py).

The language of a page (`choose_locale`): the request's locale (the create call's `locale`, or
its contact's) when the service speaks it, else the browser's preference (`Accept-Language`,
q-values honoured, only languages the service speaks), else the deployment's default
(DEFAULT_LOCALE). Messages have no browser: the request's locale, else the default.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import words_en, words_es

DEFAULT_LANGUAGE = "en"
CATALOGUE: Mapping[str, Mapping[str, str]] = {"en": words_en.WORDS, "es": words_es.WORDS}
LANGUAGES = tuple(CATALOGUE)
MAX_ACCEPT_LANGUAGE = 512  # characters of the header read; the rest is ignored
MAX_LANGUAGE_RANGES = 16  # ranges of the header read


def language(locale: str | None) -> str | None:
    """The language of `locale` ("es-MX" -> "es") when this service speaks it, else None."""
    if not locale:
        return None
    found = locale.replace("_", "-").split("-")[0].strip().lower()
    return found if found in CATALOGUE else None


def words(locale: str | None) -> Mapping[str, str]:
    """The table for `locale` (its language), else the default language's."""
    return CATALOGUE[language(locale) or DEFAULT_LANGUAGE]


def sentence_start(name: str) -> str:
    """A platform's name at the start of a sentence: the catalogue's default names ("your
    app", "tu app") capitalized; brand names as given ("eBay" stays "eBay")."""
    generic = name.startswith("your ") or name in _DEFAULT_NAMES
    return name[0].upper() + name[1:] if generic and name else name


_DEFAULT_NAMES = frozenset(table["platform.default"] for table in CATALOGUE.values())


def choose_locale(
    request_locale: str | None, accept_language: str | None, default: str | None
) -> str:
    """The language a customer reads (one of LANGUAGES): the request's, else the browser's
    best one the service speaks, else `default`'s, else DEFAULT_LANGUAGE."""
    return (
        language(request_locale)
        or browser_language(accept_language)
        or language(default)
        or DEFAULT_LANGUAGE
    )


def browser_language(accept_language: str | None) -> str | None:
    """The language of an `Accept-Language` header the service speaks, best q-value first (the
    header's order breaks ties); None when it names none (or only `*`). Malformed ranges and
    q-values are skipped; q=0 means "not this one"."""
    if not accept_language:
        return None
    ranked: list[tuple[float, int, str]] = []
    refused: set[str] = set()
    ranges = accept_language[:MAX_ACCEPT_LANGUAGE].split(",")[:MAX_LANGUAGE_RANGES]
    for position, entry in enumerate(ranges):
        tag, _, params = entry.strip().partition(";")
        found = language(tag.strip())
        q = _q_value(params)
        if found is None or q is None:
            continue
        if q == 0:
            refused.add(found)
        else:
            ranked.append((-q, position, found))
    return next((found for _, _, found in sorted(ranked) if found not in refused), None)


def _q_value(params: str) -> float | None:
    """The weight of a language range ("q=0.8"; 1 when absent), None when malformed."""
    params = params.strip()
    if not params:
        return 1.0
    name, _, value = params.partition("=")
    if name.strip().lower() != "q":
        return None
    try:
        q = float(value.strip())
    except ValueError:
        return None
    return q if 0 <= q <= 1 else None
