"""Keep the message catalogs in step with the sources (Babel extracts, merges and compiles).

    python scripts/messages.py update [--import FILE.po ...]   extract, merge into each language's .po, compile .mo
    python scripts/messages.py check                            exit 1 if a message has no translation, a translation's
                                                                placeholders differ, or a .mo is older than its .po
    python scripts/messages.py missing [--domain D]             the untranslated messages, as a .po to fill in

Two domains: `autograder` (every module but the hidden checks; autograder/locale/) and `hidden` (the hidden
checks, autograder/checks/hidden/locale/, so their text never ships in the student bundle). `--import` takes
the translations of a translator's .po (any domain's messages it holds), later files first.
"""

from __future__ import annotations

import argparse
import io
import string
import sys
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "autograder"
HIDDEN = PACKAGE / "checks" / "hidden"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2), "gettext": None}
LANGUAGES = ("zh_CN",)


@dataclass(frozen=True)
class Domain:
    name: str
    localedir: Path
    sources: tuple[Path, ...]

    def po(self, lang: str) -> Path:
        return self.localedir / lang / "LC_MESSAGES" / f"{self.name}.po"

    def mo(self, lang: str) -> Path:
        return self.po(lang).with_suffix(".mo")


def domains() -> tuple[Domain, ...]:
    public = tuple(sorted(p for p in PACKAGE.rglob("*.py") if HIDDEN not in p.parents))
    hidden = tuple(sorted(HIDDEN.glob("*.py")))
    return (Domain("autograder", PACKAGE / "locale", public), Domain("hidden", HIDDEN / "locale", hidden))


def extract(domain: Domain) -> Catalog:
    template = Catalog(project="rnn-course-autograder", domain=domain.name, charset="utf-8")
    for path in domain.sources:
        for lineno, message, comments, context in extract_from_file(
                "python", str(path), keywords=KEYWORDS, comment_tags=("TRANSLATORS:",), strip_comment_tags=True):
            template.add(message, None, [(path.relative_to(ROOT).as_posix(), lineno)],
                         auto_comments=comments, context=context)
    return template


def read(path: Path, lang: str, domain: str) -> Catalog:
    if not path.is_file():
        return Catalog(locale=lang, domain=domain, charset="utf-8")
    with path.open("rb") as handle:
        return read_po(handle, locale=lang, domain=domain)


def placeholders(text: str) -> set[str]:
    try:
        return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError:
        return {"<unbalanced braces>"}


def _write_po(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, sort_output=False, omit_header=False, include_previous=False)
    data = buffer.getvalue()
    if not path.is_file() or path.read_bytes() != data:
        path.write_bytes(data)


def _compile(catalog: Catalog, path: Path) -> None:
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    data = buffer.getvalue()
    if not path.is_file() or path.read_bytes() != data:
        path.write_bytes(data)


def update(imports: list[Path]) -> int:
    given = {}
    for path in imports:
        with path.open("rb") as handle:
            for message in read_po(handle):
                if message.id and message.string and (not isinstance(message.id, tuple) or all(message.string)):
                    given.setdefault(message.id, message.string)
    for domain in domains():
        template = extract(domain)
        for lang in LANGUAGES:
            catalog = read(domain.po(lang), lang, domain.name)
            if domain.po(lang).is_file():
                template.creation_date = catalog.creation_date  # an unchanged catalog is written unchanged
            catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
            catalog.obsolete.clear()  # a message no source says any more goes, with its translation
            for message in catalog:
                if message.id and message.id in given:
                    message.string = given[message.id]
                    message.flags.discard("fuzzy")
            _write_po(catalog, domain.po(lang))
            _compile(catalog, domain.mo(lang))
            todo = sum(1 for m in catalog if m.id and not _translated(m))
            count = sum(1 for m in catalog if m.id)
            print(f"{domain.po(lang).relative_to(ROOT)}: {count} messages, {todo} untranslated")
    return 0


def _translated(message) -> bool:
    if "fuzzy" in message.flags:
        return False
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return all(strings)


def problems() -> list[str]:
    found = []
    for domain in domains():
        template = extract(domain)
        for lang in LANGUAGES:
            catalog = read(domain.po(lang), lang, domain.name)
            for message in template:
                if not message.id:
                    continue
                where = ", ".join(f"{f}:{n}" for f, n in message.locations[:2])
                have = catalog.get(message.id)
                if have is None or not _translated(have):
                    found.append(f"{lang} {domain.name}: no translation of {message.id!r} ({where})")
                    continue
                ids = message.id if isinstance(message.id, tuple) else (message.id,)
                strings = have.string if isinstance(have.string, tuple) else (have.string,)
                want = placeholders(ids[-1])
                for text in strings:
                    if placeholders(text) != want:
                        found.append(f"{lang} {domain.name}: placeholders {sorted(placeholders(text))} in the "
                                     f"translation of {ids[0]!r}, {sorted(want)} in the source ({where})")
            if domain.po(lang).is_file():
                buffer = io.BytesIO()
                write_mo(buffer, catalog, use_fuzzy=False)
                if not domain.mo(lang).is_file() or domain.mo(lang).read_bytes() != buffer.getvalue():
                    found.append(f"{domain.mo(lang).relative_to(ROOT)} is not compiled from its .po: run "
                                 "`python scripts/messages.py update`")
    return found


def missing(domain_name: str | None) -> int:
    out = Catalog(locale=LANGUAGES[0], charset="utf-8")
    for domain in domains():
        if domain_name and domain.name != domain_name:
            continue
        catalog = read(domain.po(LANGUAGES[0]), LANGUAGES[0], domain.name)
        for message in extract(domain):
            have = catalog.get(message.id) if message.id else None
            if message.id and (have is None or not _translated(have)):
                out.add(message.id, None, message.locations)
    buffer = io.BytesIO()
    write_po(buffer, out, width=100, omit_header=True)
    sys.stdout.write(buffer.getvalue().decode("utf-8"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("update")
    up.add_argument("--import", dest="imports", type=Path, nargs="*", default=[])
    sub.add_parser("check")
    miss = sub.add_parser("missing")
    miss.add_argument("--domain", choices=("autograder", "hidden"))
    args = parser.parse_args(argv)
    if args.command == "update":
        return update(args.imports)
    if args.command == "missing":
        return missing(args.domain)
    found = problems()
    for line in found:
        print(line)
    print(f"{len(found)} problems" if found else "the catalogs are complete")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
