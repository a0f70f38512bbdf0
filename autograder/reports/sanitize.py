"""The sanitiser of every HTML page the grader writes from student work, in one module to review alone.

Three layers, each enough on its own for what it guards:
- the allow-lists and the cleaner (`clean`): student HTML and rendered markdown keep ordinary markup
  (headings, tables, inline images, MathML) and lose scripts, handlers, styles, remote URLs, and the
  classes and ids of the grader's own result blocks (so markdown cannot dress up as a passed check);
- the final scrub (`scrub`): one pass over the finished page that removes any script, frame, handler
  attribute, foreign Content-Security-Policy or URL scheme that got through;
- the page's Content-Security-Policy (`CSP`, `HEAD`): no script runs and nothing is loaded, whatever is
  in the page.
`tex_to_mathml` turns a formula into MathML, which the cleaner then checks like any other markup.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from html.parser import HTMLParser

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
       "base-uri 'none'; form-action 'none'")
HEAD = f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'

ALLOWED_TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div", "dl", "dt",
                "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "q", "s",
                "samp", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th",
                "thead", "tr", "u", "ul", "var"}
ALLOWED_ATTRIBUTES = {"*": {"class", "id", "title"}, "a": {"href"}, "img": {"src", "alt", "width", "height"},
                      "td": {"align", "colspan", "rowspan"}, "th": {"align", "colspan", "rowspan"}, "ol": {"start"}}
# MathML Core's elements and the presentation attributes latex2mathml writes; no href, no event, no style.
MATHML_TAGS = {"math", "semantics", "annotation", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup",
               "msubsup", "munder", "mover", "munderover", "mfrac", "msqrt", "mroot", "mstyle", "mpadded", "mphantom",
               "menclose", "mtable", "mtr", "mtd", "mmultiscripts", "mprescripts", "none"}
MATHML_ATTRIBUTES = {"display", "mathvariant", "stretchy", "fence", "separator", "minsize", "maxsize", "lspace",
                     "rspace", "accent", "accentunder", "linethickness", "columnalign", "rowalign", "columnspacing",
                     "rowspacing", "columnlines", "rowlines", "frame", "displaystyle", "scriptlevel", "width", "height",
                     "depth", "linebreak", "movablelimits", "largeop", "symmetric", "notation", "encoding", "form"}
LINK_URL = re.compile(r"^(#|https?:|mailto:)", re.IGNORECASE)  # a reader may follow a link
INLINE_URL = re.compile(r"^data:image/(png|jpeg|gif|svg\+xml);base64,", re.IGNORECASE)  # the page loads nothing else


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    """Links may go to the web or an anchor; images only come inline (the page never loads anything).

    Classes and ids of the result blocks are this module's own, so a student cannot dress markdown up
    as a passed check.
    """
    if tag in MATHML_TAGS:
        return name in MATHML_ATTRIBUTES
    if name not in ALLOWED_ATTRIBUTES["*"] | ALLOWED_ATTRIBUTES.get(tag, set()):
        return False
    if name == "class":
        return not any(token.startswith("ag") for token in value.split())
    if name == "id":
        return not value.strip().startswith("check-")
    if name == "href":
        return bool(LINK_URL.match(value.strip()))
    if name == "src":
        return bool(INLINE_URL.match(value.strip()))
    return True


_clean_lock = threading.Lock()


@lru_cache(maxsize=1)
def _cleaner():
    from bleach.sanitizer import Cleaner

    return Cleaner(tags=ALLOWED_TAGS | MATHML_TAGS, attributes=_allowed_attribute,
                   protocols={"http", "https", "mailto", "data"}, strip=False, strip_comments=True)


def clean(text: str) -> str:
    """Student HTML through the allow-lists (see the module docstring)."""
    with _clean_lock:  # a bleach Cleaner is not thread-safe
        return _cleaner().clean(text)


DANGEROUS_TAGS = ("script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "form", "link",
                  "noscript", "portal")
URL_ATTRIBUTES = ("href", "src", "action", "background", "poster", "xlink:href", "formaction")


def _unsafe_attribute(name: str, value: object) -> bool:
    name = name.lower()
    text = " ".join(value) if isinstance(value, list) else str(value or "")
    if name == "href":
        return not LINK_URL.match(text.strip())
    return name.startswith("on") or name == "srcdoc" or (name in URL_ATTRIBUTES and not INLINE_URL.match(text.strip()))


def _unsafe_tag(tag: str, attrs: dict) -> bool:
    if tag in DANGEROUS_TAGS or (tag == "meta" and attrs.get("http-equiv") and attrs.get("content") != CSP):
        return True
    return any(_unsafe_attribute(name, value) for name, value in attrs.items())


class _Inspector(HTMLParser):
    """Reads a page once and says whether anything unsafe is in it (the common answer is no, and cheap)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.unsafe = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.unsafe = self.unsafe or _unsafe_tag(tag, dict(attrs))

    handle_startendtag = handle_starttag


def scrub(page: str) -> str:
    """The last line of defence: no script, frame, handler attribute or odd URL scheme leaves this module."""
    inspector = _Inspector()
    inspector.feed(page)
    inspector.close()
    if not inspector.unsafe:
        return page
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page, "html.parser")
    for tag in soup.find_all(True):
        if tag.decomposed:
            continue
        if tag.name in DANGEROUS_TAGS or (tag.name == "meta" and _unsafe_tag("meta", tag.attrs)):
            tag.decompose()
            continue
        for name in [n for n, v in tag.attrs.items() if _unsafe_attribute(n, v)]:
            del tag.attrs[name]
    return str(soup)


# Delimiters that latex2mathml leaves as TeX commands after \big, \Big, \bigl...: their characters.
SIZED_DELIMITERS = {"|": "\u2016", "Vert": "\u2016", "lVert": "\u2016", "rVert": "\u2016", "vert": "|",
                    "lvert": "|", "rvert": "|", "langle": "\u27e8", "rangle": "\u27e9", "{": "{", "}": "}",
                    "lfloor": "\u230a", "rfloor": "\u230b", "lceil": "\u2308", "rceil": "\u2309"}
RAW_DELIMITER = re.compile(r"(<mo\b[^>]*>)\\(\||\{|\}|[A-Za-z]+)(</mo>)")


def tex_to_mathml(tex: str, display: bool) -> str | None:
    """MathML for a formula, or None when latex2mathml cannot read it (the TeX is then shown as written)."""
    from latex2mathml.converter import convert

    try:
        mathml = convert(tex, display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - whatever a student's TeX does to the converter, the page still renders
        return None
    return RAW_DELIMITER.sub(lambda m: m[1] + SIZED_DELIMITERS.get(m[2], "\\" + m[2]) + m[3], mathml)
