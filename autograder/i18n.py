"""Messages in the student's language: gettext catalogs, chosen per submission.

Every string a student or an instructor reads (a check's message and hint, a CLI line, the feedback page,
the class report) is written in English in the source, inside `_()` (or `ngettext()` where a count
decides the English form), with named `{placeholders}` filled by `str.format` after translation, so a
translator may move them. Babel extracts them (`scripts/messages.py update`) into the catalogs under
`autograder/locale/` (hidden checks: a catalog of their own beside them, `checks/hidden/locale/`, so
their text never ships with the student bundle) and compiles them to the `.mo` files read here.

Which language:
- `AUTOGRADER_LANG` (`zh_CN`, `zh`, `en`, a POSIX locale such as `zh_CN.UTF-8`), when set, decides
  everything;
- else a submission's messages and its feedback page follow its notebook's language (the metadata
  `autograder.lang` that `autograder release --lang` writes);
- else the bundle's own default (`locale/default`, written into a student bundle released in one
  language), else English.
The choice is held in a context variable (`language(...)`), so a batch grading several notebooks at
once on worker threads keeps each submission in its own language.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gettext as _gettext
import os
from collections.abc import Iterator
from pathlib import Path

DOMAIN = "autograder"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT_FILE = LOCALE_DIR / "default"  # one line, a language: the default of a bundle released in it
ENV = "AUTOGRADER_LANG"
ENGLISH = "en"
LANGUAGES = (ENGLISH, "zh_CN")  # the languages the catalogs cover; English is the source text
_ALIASES = {"en": ENGLISH, "c": ENGLISH, "posix": ENGLISH, "zh": "zh_CN", "zh_cn": "zh_CN", "zh_hans": "zh_CN",
            "zh_sg": "zh_CN", "zh_hans_cn": "zh_CN"}

_chosen: contextvars.ContextVar[str | None] = contextvars.ContextVar("autograder_language", default=None)


def normalize(value: object) -> str | None:
    """The catalog language a setting names ("zh", "zh-CN", "zh_CN.UTF-8", "en_US" …), or None if none."""
    if not isinstance(value, str):
        return None
    key = value.strip().split(".")[0].split("@")[0].replace("-", "_").lower()
    if key in _ALIASES:
        return _ALIASES[key]
    if key.startswith("en_"):
        return ENGLISH
    return None


def forced() -> str | None:
    """The language `AUTOGRADER_LANG` sets (it overrides a notebook's own), or None when unset or unknown."""
    return normalize(os.environ.get(ENV))


def default_language() -> str:
    """The language with no notebook to go by: `AUTOGRADER_LANG`, else the bundle's default, else English."""
    return forced() or bundle_default()


@functools.cache
def bundle_default() -> str:
    """The language of the bundle this package came in (`locale/default`), else English; read once."""
    try:
        return normalize(DEFAULT_FILE.read_text(encoding="utf-8")) or ENGLISH
    except (OSError, UnicodeDecodeError):
        return ENGLISH


def of_notebook(nb: object) -> str | None:
    """The language a notebook's metadata names (`autograder.lang`), or None."""
    meta = nb.get("metadata") if isinstance(nb, dict) else None
    own = meta.get("autograder") if isinstance(meta, dict) else None
    return normalize(own.get("lang")) if isinstance(own, dict) else None


def for_notebook(nb: object) -> str:
    """The language a submission is graded and reported in (see the module's docstring)."""
    return forced() or of_notebook(nb) or default_language()


def current() -> str:
    """The language in effect here: the innermost `language(...)`, else the default."""
    return _chosen.get() or default_language()


@contextlib.contextmanager
def language(lang: str | None) -> Iterator[str]:
    """Messages inside this block are in `lang` (normalised; None or unknown keeps the current one)."""
    chosen = normalize(lang) or current()
    token = _chosen.set(chosen)
    try:
        yield chosen
    finally:
        _chosen.reset(token)


def html_lang(lang: str | None = None) -> str:
    """The HTML `lang` of a page in `lang` (default: the current language): "en", "zh-CN"."""
    return (normalize(lang) or current()).replace("_", "-")


@functools.cache
def catalog(lang: str, domain: str = DOMAIN, localedir: str = str(LOCALE_DIR)) -> _gettext.NullTranslations:
    """The compiled catalog of a language (English, or one with no .mo: the source text unchanged)."""
    if lang == ENGLISH:
        return _gettext.NullTranslations()
    return _gettext.translation(domain, localedir, [lang], fallback=True)


def _(message: str) -> str:
    """`message` in the current language."""
    lang = current()
    return message if lang == ENGLISH else catalog(lang).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form for count `n` (English has two, Chinese one), in the current language."""
    lang = current()
    if lang == ENGLISH:
        return singular if n == 1 else plural
    return catalog(lang).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a string for the catalogs without translating it here (a table built at import time):
    the code translates it with `_()` where it is used."""
    return message


class Domain:
    """A catalog of its own (the hidden checks' text lives beside them, so it is never in the bundle)."""

    def __init__(self, domain: str, localedir: Path) -> None:
        self.domain, self.localedir = domain, str(localedir)

    def gettext(self, message: str) -> str:
        lang = current()
        return message if lang == ENGLISH else catalog(lang, self.domain, self.localedir).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        lang = current()
        if lang == ENGLISH:
            return singular if n == 1 else plural
        return catalog(lang, self.domain, self.localedir).ngettext(singular, plural, n)
