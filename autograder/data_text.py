"""Text shipped in datasets/ for the word-embedding notebook (05): read from disk, never downloaded.

The corpus is a snapshot of the topic help texts that Python itself ships (`pydoc_data/topics.py`,
PSF licence; see datasets/pydoc_topics/README.md). It is small — about 470 KB, 64,000 words — which is
enough to train toy word vectors on a laptop CPU in a few seconds.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from autograder.course import PACKAGE_DIR, course_root

PYDOC_TOPICS = Path("pydoc_topics") / "topics.txt"
_HEADER = re.compile(r"^##### topic: (.+)\n", re.MULTILINE)


def dataset_path(relative: Path | str) -> Path:
    """A file under datasets/: in the course checkout, else beside the installed package."""
    for root in (course_root(), PACKAGE_DIR.parent):
        path = root / "datasets" / relative
        if path.exists():
            return path
    raise FileNotFoundError(f"datasets/{relative} is missing: it ships with the course repository")


@cache
def _topics() -> tuple[tuple[str, str], ...]:
    text = dataset_path(PYDOC_TOPICS).read_text(encoding="utf-8")
    pieces = _HEADER.split(text)  # ["", name, body, name, body, ...]
    if pieces[0].strip() or len(pieces) % 2 != 1:
        raise ValueError(f"{PYDOC_TOPICS} is not in the expected format (a '##### topic: NAME' line per topic)")
    return tuple(zip(pieces[1::2], pieces[2::2]))


def pydoc_topics() -> dict[str, str]:
    """Topic name → its help text (what `help("assert")` shows), in alphabetical order of the names."""
    return dict(_topics())


def pydoc_text() -> str:
    """Every topic's text, joined in alphabetical order of the topic names."""
    return "\n".join(body for _, body in _topics())
