"""The catalogue: every word a customer reads, one module per language (words_en.py, ...).

Pages (pages.py) and messages (messages.py) take a locale and read their words here, never a
hard-coded string. A locale picks the table by its language ("en-US" -> "en"); one this
service does not speak reads the default language's table.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import words_en

DEFAULT_LANGUAGE = "en"
CATALOGUE: Mapping[str, Mapping[str, str]] = {"en": words_en.WORDS}
LANGUAGES = tuple(CATALOGUE)


def language(locale: str | None) -> str | None:
    """The language of `locale` ("es-MX" -> "es") when this service speaks it, else None."""
    if not locale:
        return None
    found = locale.replace("_", "-").split("-")[0].strip().lower()
    return found if found in CATALOGUE else None


def words(locale: str | None) -> Mapping[str, str]:
    """The table for `locale` (its language), else the default language's."""
    return CATALOGUE[language(locale) or DEFAULT_LANGUAGE]
