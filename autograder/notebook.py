"""Reading notebooks safely, and merging a submission with its source notebook by nbgrader cell id."""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from autograder.i18n import N_, _

MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024


class NotebookError(Exception):
    """A submission that cannot be read as a notebook; the message is meant for the student."""


def _import_nbformat():
    """nbformat, without the 2.5 s that jsonschema spends building an IRI grammar it never uses here.

    jsonschema imports `rfc3987_syntax` (when installed, as nbgrader's dependencies install it) only to
    check "iri" string formats, which the notebook schema does not use; marking it absent skips that.
    """
    import sys

    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)
    import nbformat

    return nbformat


_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
MAX_DEPTH = 100  # nesting of JSON values; a notebook Jupyter writes is a dozen deep
MAX_DIGITS = 1000  # digits of an integer; Python refuses to convert past 4300, and no notebook needs more than 20
_KINDS = {stat.S_IFLNK: N_("a symbolic link"), stat.S_IFIFO: N_("a named pipe (FIFO)"), stat.S_IFCHR: N_("a device"),
          stat.S_IFBLK: N_("a device"), stat.S_IFSOCK: N_("a socket"), stat.S_IFDIR: N_("a folder")}
_NOT_REGULAR = N_("not a regular file")


def _kind(mode: int) -> str:
    return _(_KINDS.get(stat.S_IFMT(mode), _NOT_REGULAR))


def _folder(depth: int, part: str) -> str:
    """What a folder on the way to a notebook is, as a message names it."""
    if depth == 0:
        return _("student folder")
    if depth == 1:
        return _("assignment folder")
    return _("folder {name}").format(name=repr(part))


def _refuse(what: str, mode: int | None) -> NotebookError:
    """`what`: "notebook", or the folder's name in words (`_folder`)."""
    kind = _kind(mode) if mode is not None else _(_NOT_REGULAR)
    if what == "notebook":
        return NotebookError(_("the submitted notebook is {kind}; submit the file itself").format(kind=kind))
    return NotebookError(_("the submission's {what} is {kind}, not a folder; submit the notebook in a plain "
                           "folder").format(what=what, kind=kind))


def _lstat_mode(name: str, dir_fd: int | None) -> int | None:
    try:
        return os.lstat(name, dir_fd=dir_fd).st_mode if dir_fd is not None else os.lstat(name).st_mode
    except OSError:
        return None


def _open_dir(name: str, dir_fd: int, what: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            raise _refuse(what, _lstat_mode(name, dir_fd)) from None
        raise NotebookError(_("the submission's {what} could not be opened: {reason}").format(
            what=what, reason=exc.strerror)) from None


def _inside(path: Path, root: str | Path) -> list[str]:
    try:
        parts = list(Path(path).relative_to(root).parts)
    except ValueError:
        raise NotebookError(_("{path} is not inside the submissions folder {root}").format(
            path=path, root=root)) from None
    if any(part in ("..", ".") for part in parts):
        raise NotebookError(_("{path} is not a plain path inside the submissions folder {root}").format(
            path=path, root=root))
    return parts


def _open_folder(root: str | Path, parts: list[str]) -> int:
    """A descriptor of root/parts..., each folder after `root` opened from its parent's without following a link."""
    try:
        dir_fd = os.open(root, _DIR_FLAGS & ~getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise NotebookError(_("the submissions folder could not be opened: {reason}").format(
            reason=exc.strerror)) from None
    try:
        for depth, part in enumerate(parts):
            inner = _open_dir(part, dir_fd, _folder(depth, part))
            os.close(dir_fd)
            dir_fd = inner
    except BaseException:
        os.close(dir_fd)
        raise
    return dir_fd


def _walks(root: str | Path | None) -> bool:
    return root is not None and os.open in os.supports_dir_fd and os.listdir in os.supports_fd


def list_folder(folder: str | Path, root: str | Path | None = None) -> list[str]:
    """The names in `folder`; with `root` (see `read_bytes`), `folder` is reached without following a link."""
    try:
        if not _walks(root):
            return os.listdir(folder)
        fd = _open_folder(root, _inside(Path(folder), root))
        try:
            return os.listdir(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise NotebookError(_("the submission's folder could not be listed: {reason}").format(
            reason=exc.strerror)) from None


def read_bytes(path: str | Path, root: str | Path | None = None, limit: int = MAX_NOTEBOOK_BYTES) -> bytes:
    """The bytes of a regular file, opened so that nothing but a regular file is ever read.

    The file is opened without following a symbolic link and without blocking (a FIFO opens and is refused),
    then checked with fstat on the open descriptor, so no swap between a check and the open can slip another
    file in. With `root` (a batch's submissions folder), `path` must lie inside it, and every folder on the
    way is opened from its parent's descriptor without following links either: a symlinked student or
    assignment folder is refused like a symlinked notebook. The size cap is checked before the read and
    again while reading (a file that grows meanwhile is refused too).
    """
    dir_fd, name, fd = None, str(path), None
    if _walks(root):
        parents = _inside(Path(path), root)
        if not parents:
            raise NotebookError(_("{path} is the submissions folder itself, not a notebook").format(path=path))
        name = parents.pop()
        dir_fd = _open_folder(root, parents)
    try:
        try:
            fd = os.open(name, _OPEN_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK, errno.ENXIO, errno.EOPNOTSUPP):
                raise _refuse("notebook", _lstat_mode(name, dir_fd)) from None
            raise NotebookError(_("the notebook could not be read: {reason}").format(reason=exc.strerror)) from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refuse("notebook", info.st_mode)
        if info.st_size > limit:
            raise _too_big(info.st_size, limit)
        chunks, size = [], 0
        while size <= limit:
            try:
                chunk = os.read(fd, min(limit + 1 - size, 1 << 20))
            except OSError as exc:
                raise NotebookError(_("the notebook could not be read: {reason}").format(
                    reason=exc.strerror)) from None
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise _too_big(size, limit)
        return b"".join(chunks)
    finally:
        for descriptor in (fd, dir_fd):
            if descriptor is not None:
                os.close(descriptor)


def _too_big(size: int, limit: int) -> NotebookError:
    return NotebookError(_("the notebook is over {size} MiB, past the {limit} MiB limit; clear large outputs "
                           "(Kernel → Restart & Clear Output) and save it again").format(
        size=max(1, size // 2**20), limit=limit // 2**20))


def read(path: str | Path, root: str | Path | None = None) -> dict:
    """The notebook at `path` as a validated nbformat v4 node, or NotebookError with a clear reason.

    `root`: the submissions folder `path` must lie inside (see `read_bytes`)."""
    return parse(read_bytes(path, root))


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise NotebookError(_("the notebook holds a number of {digits} digits, past the {limit} a notebook may "
                              "hold").format(digits=len(text.lstrip("-")), limit=MAX_DIGITS))
    return int(text)


def _parse_constant(name: str) -> float:
    raise NotebookError(_("the notebook is not valid JSON: it holds {name}, which JSON does not allow").format(
        name=name))


def parse(raw: bytes) -> dict:
    """The notebook held in `raw` (the bytes of an .ipynb file), or NotebookError with a clear reason.

    Everything a crafted file can do to a reader becomes a message: nesting too deep to walk, integers too
    long to convert, text that is not UTF-8, values of the wrong type where the grader looks (cells, metadata,
    nbgrader metadata, sources), and duplicate grade_ids. Unpaired surrogates (a JSON escape such as
    `\\ud800`) are replaced with U+FFFD: Jupyter cannot save one (it cannot encode it), so one marks text no
    kernel ran, and replacing it keeps the rest of the student's work gradable and every later writer safe.
    """
    nbformat = _import_nbformat()

    if not raw.strip():
        raise NotebookError(_("the notebook file is empty"))
    if b"\0" in raw[:4096]:
        raise NotebookError(_("the file is binary, not a notebook (.ipynb files are JSON text)"))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotebookError(_("the notebook is not UTF-8 text (byte {byte} cannot be decoded); save it again "
                              "from Jupyter").format(byte=exc.start)) from None
    try:
        data = json.loads(text, parse_int=_parse_int, parse_constant=_parse_constant)
    except json.JSONDecodeError as exc:
        raise NotebookError(_("the notebook is not valid JSON (line {line}, column {column}: {reason}); was it "
                              "saved completely?").format(line=exc.lineno, column=exc.colno, reason=exc.msg)) from None
    except RecursionError:
        raise NotebookError(_("the notebook's JSON is nested too deeply to be a notebook")) from None
    except ValueError as exc:  # a number json cannot convert
        raise NotebookError(_("the notebook is not valid JSON: {reason}").format(reason=str(exc)[:200])) from None
    if not isinstance(data, dict) or "cells" not in data:
        raise NotebookError(_("the file is JSON but not a notebook (no 'cells')"))
    major = data.get("nbformat")
    if major != 4:
        raise NotebookError(_("unsupported notebook format version {version}; save it with Jupyter as nbformat "
                              "4").format(version=repr(major)))
    data = _walk(data, _SURROGATE_ESCAPE.search(raw) is not None)
    _check_structure(data)
    try:
        node = nbformat.v4.to_notebook_json(data, minor=data.get("nbformat_minor", 0))
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds for a malformed file
        raise NotebookError(_("the notebook is malformed: {error}").format(
            error=f"{type(exc).__name__}: {str(exc)[:200]}")) from None
    _check_grade_ids(node)
    return node


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _walk(data: object, replace_surrogates: bool) -> object:
    """`data` checked for depth without recursion, with unpaired surrogates replaced when asked."""
    fix = (lambda s: _SURROGATE.sub("\ufffd", s)) if replace_surrogates else None
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise NotebookError(_("the notebook's JSON is nested more than {depth} levels deep; a notebook is "
                                  "never that deep").format(depth=MAX_DEPTH))
        if isinstance(value, dict):
            if fix is not None:
                items = [(fix(k), fix(v) if isinstance(v, str) else v) for k, v in value.items()]
                value.clear()
                value.update(items)
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            if fix is not None:
                value[:] = [fix(v) if isinstance(v, str) else v for v in value]
            stack.extend((v, depth + 1) for v in value if isinstance(v, (dict, list)))
    return data


_NBGRADER_TYPES = {"grade_id": (str,), "grade": (bool,), "solution": (bool,), "locked": (bool,), "task": (bool,),
                   "points": (int, float)}


def _check_structure(data: dict) -> None:
    """Refuse values of the wrong type wherever the grader or nbformat looks, naming the cell."""
    if not isinstance(data.get("metadata"), dict):
        raise NotebookError(_("the notebook is malformed: its metadata is missing or not an object"))
    cells = data["cells"]
    if not isinstance(cells, list):
        raise NotebookError(_("the notebook is malformed: its 'cells' is not a list"))
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict):
            raise NotebookError(_("the notebook is malformed: cell {number} is not an object").format(number=number))
        if cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise NotebookError(_("the notebook is malformed: cell {number} has no valid cell_type (code, markdown "
                                  "or raw)").format(number=number))
        source = cell.get("source")
        if not (isinstance(source, str) or isinstance(source, list) and all(isinstance(s, str) for s in source)):
            raise NotebookError(_("the notebook is malformed: cell {number}'s source is not text").format(
                number=number))
        meta = cell.get("metadata")
        if not isinstance(meta, dict):
            raise NotebookError(_("the notebook is malformed: cell {number}'s metadata is missing or not an "
                                  "object").format(number=number))
        outputs = cell.get("outputs", [])
        if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
            raise NotebookError(_("the notebook is malformed: cell {number}'s outputs are not a list of "
                                  "objects").format(number=number))
        if "nbgrader" not in meta:
            continue
        nbgrader = meta["nbgrader"]
        if not isinstance(nbgrader, dict):
            raise NotebookError(_("the notebook is malformed: cell {number}'s nbgrader metadata is not an object; "
                                  "was it edited by hand? Restore the cell from the released notebook").format(
                number=number))
        for key, types in _NBGRADER_TYPES.items():
            value = nbgrader.get(key)
            if value is not None and (not isinstance(value, types) or (bool not in types and isinstance(value, bool))):
                raise NotebookError(_("the notebook is malformed: cell {number}'s nbgrader {key} is a {type}; was "
                                      "it edited by hand? Restore the cell from the released notebook").format(
                    number=number, key=repr(key), type=type(value).__name__))


def _check_grade_ids(node: dict) -> None:
    """Two cells with one grade_id: refused, as nbgrader refuses them (which one would be graded?)."""
    seen: dict[str, int] = {}
    for number, cell in enumerate(node["cells"], 1):
        gid = grade_id(cell)
        if gid is None:
            continue
        if gid in seen:
            raise NotebookError(_("cells {first} and {second} both have grade_id {grade_id}: a cell was copied; "
                                  "delete the copy (keep your work in one of them)").format(
                first=seen[gid], second=number, grade_id=repr(gid)))
        seen[gid] = number


def check_grading_metadata(release: dict, submission: dict) -> None:
    """Refuse a submission whose nbgrader metadata claims points the released notebook does not give.

    Points live in the released notebook's test cells only; a cell of the submission marked `grade: true` or
    carrying `points` must say exactly what the release's cell of that grade_id says, and a graded cell with a
    grade_id the release does not have is refused too.
    """
    released = {grade_id(c): nbgrader_meta(c) for c in release["cells"] if grade_id(c)}
    for number, cell in enumerate(submission["cells"], 1):
        meta = nbgrader_meta(cell)
        if not (meta.get("grade") or "points" in meta):
            continue
        gid = grade_id(cell)
        label = (_("cell {number} ({grade_id})").format(number=number, grade_id=gid) if gid
                 else _("cell {number}").format(number=number))
        if gid not in released:
            raise NotebookError(_("the notebook's grading metadata was edited: {cell} is marked as graded, but the "
                                  "released notebook has no such graded cell; restore it from the released notebook "
                                  "or delete that metadata").format(cell=label))
        ours = released[gid]
        if bool(meta.get("grade")) != bool(ours.get("grade")) or float(meta.get("points", 0) or 0) != float(
                ours.get("points", 0) or 0):
            raise NotebookError(_("the notebook's grading metadata was edited: {cell} claims {claimed} point(s), the "
                                  "released notebook gives it {given}; restore the cell from the released "
                                  "notebook").format(cell=label, claimed=f"{meta.get('points', 0):g}",
                                                     given=f"{float(ours.get('points', 0) or 0):g}"))


def nbgrader_meta(cell: dict) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def grade_id(cell: dict) -> str | None:
    value = nbgrader_meta(cell).get("grade_id")
    return value if isinstance(value, str) else None


def is_test_cell(cell: dict) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.get("cell_type") == "code"


def is_solution_cell(cell: dict) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


@dataclass
class TestCell:
    grade_id: str
    points: float


def test_cells(source: dict) -> list[TestCell]:
    return [TestCell(grade_id(c), float(nbgrader_meta(c).get("points", 0))) for c in source["cells"]
            if is_test_cell(c) and grade_id(c)]


def assignment_id(node: dict) -> str | None:
    """The assignment a notebook belongs to, from its metadata (set by release)."""
    meta = node.get("metadata")
    meta = meta.get("autograder") if isinstance(meta, dict) else None
    value = meta.get("assignment") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


_PARSE_LOCK = threading.Lock()


def parse_python(source: str | bytes, filename: str = "<unknown>"):
    """`ast.parse`, one call at a time: CPython 3.11's AST constructor keeps its recursion depth per
    interpreter, and two threads parsing at once (the batch's workers) can fail with "SystemError: AST
    constructor recursion depth mismatch". Raises what ast.parse raises otherwise."""
    import ast

    with _PARSE_LOCK:
        return ast.parse(source, filename)


def defined_names(source: str) -> set[str]:
    """The names a cell binds at top level (functions, classes, assignments, imports); empty if it does not parse."""
    import ast

    try:
        tree = parse_python(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _cell_text(cell: dict) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def merge(release: dict, submission: dict) -> list[dict]:
    """The code cells to run, in order, built from the released notebook and the student's own cells.

    `release` is what `autograder release` writes (never the solutions): its locked cells are run as
    released, whatever the submission holds in their place; solution cells and cells the student added
    come from the submission in its order (nbgrader's rule, so a helper in a new cell counts). A released
    cell the student deleted comes back from the release — a deleted solution cell as its stub — after
    its predecessor, but never after a cell of the student's that defines one of its names: a function
    retyped in a new cell is graded on what the student typed. Test cells are not run by the probe,
    since the judge does the checking.
    """
    by_id = {grade_id(c): c for c in release["cells"] if grade_id(c)}
    seen = set()
    merged: list[tuple[str | None, dict, bool]] = []  # (grade_id, cell, written by the student)
    for cell in submission["cells"]:
        gid = grade_id(cell)
        if gid in by_id:
            if gid in seen:
                continue
            seen.add(gid)
            released = by_id[gid]
            ours = is_solution_cell(released)
            merged.append((gid, cell if ours else released, ours))
        else:
            merged.append((None, cell, True))
    previous = None
    for cell in release["cells"]:
        gid = grade_id(cell)
        if gid and gid not in seen:
            position = next((i + 1 for i, (g, _c, _s) in enumerate(merged) if g == previous), 0) if previous else 0
            if is_solution_cell(cell):
                names = defined_names(_cell_text(cell))
                definers = [i for i, (_gid, c, student) in enumerate(merged) if student and c.get("cell_type") == "code"
                            and names & defined_names(_cell_text(c))]
                position = min([position, *definers])
            merged.insert(position, (gid, cell, False))
            seen.add(gid)
        previous = gid or previous
    runnable = []
    for index, (gid, cell, _student) in enumerate(merged):
        if cell.get("cell_type") != "code":
            continue
        original = by_id.get(gid) if gid else None
        if original is not None and is_test_cell(original):
            continue
        runnable.append({"index": index, "grade_id": gid, "source": _cell_text(cell)})
    return runnable


def identify(release: dict, submission: dict, assignment: str, others: dict[str, set[str]]) -> None:
    """Refuse a notebook that is not this assignment's, with a message that says what it is instead.

    `others` maps every other assignment of the course to its grade_ids. A notebook with no cells, one whose
    metadata names another assignment, or one that shares none of this assignment's cells (its cells, if
    any, belong to another) raises NotebookError.
    """
    if not submission["cells"]:
        raise NotebookError(_("the notebook has no cells"))
    claimed = assignment_id(submission)
    if claimed and claimed != assignment:
        raise NotebookError(_("this is {claimed}'s notebook (its metadata says so), not {assignment}'s: submit "
                              "{assignment}.ipynb").format(claimed=claimed, assignment=assignment))
    ours = {grade_id(c) for c in release["cells"] if grade_id(c)}
    present = {grade_id(c) for c in submission["cells"] if grade_id(c)}
    elsewhere = set().union(*others.values())
    if present & (ours - elsewhere):  # a cell only this assignment has ("setup" or "intro" tell nothing)
        return
    for other, ids in sorted(others.items()):
        if present & (ids - ours):
            raise NotebookError(_("this is {other}'s notebook (its cells are {other}'s), not {assignment}'s: "
                                  "submit {assignment}.ipynb").format(other=other, assignment=assignment))
    raise NotebookError(_("the notebook shares none of {assignment}'s cells (no cell carries one of its grade_ids): "
                          "work in the released assignments/{assignment}/{assignment}.ipynb and submit that "
                          "file").format(assignment=assignment))


def find_notebook(folder: Path, assignment: str, root: Path | None = None) -> Path | None:
    """The submission's notebook in `folder`: <assignment>.ipynb, else the first other .ipynb name, else None.

    Names are listed, never followed: whatever the name is (a link, a FIFO, a folder) is refused when it is
    opened. With `root`, `folder` is reached from it without following a link (NotebookError otherwise).
    """
    try:
        names = list_folder(folder, root)
    except NotebookError:
        if root is not None:
            raise
        return None
    preferred = f"{assignment}.ipynb"
    if preferred in names:
        return Path(folder) / preferred
    found = sorted(n for n in names if n.endswith(".ipynb") and not n.startswith("."))
    return Path(folder) / found[0] if found else None


class LayoutError(ValueError):
    """The submissions folder is not laid out as SUBMITTED/<student>/<ID>/<ID>.ipynb."""


LAYOUT = N_("SUBMITTED/<student>/<ID>/<ID>.ipynb (nbgrader's submitted/ layout)")


def list_students(submitted: Path, assignment: str) -> list[str]:
    """The students with a submission of `assignment`; a folder that holds none is a LayoutError saying why.

    A name is listed when <student>/<assignment> exists at all (a link included): a symlinked student or
    assignment folder is that student's error, not silently skipped."""
    if not submitted.is_dir():
        raise LayoutError(_("no such submissions folder: {folder}; expected {layout}").format(
            folder=submitted, layout=_(LAYOUT)))
    entries = [p for p in submitted.iterdir() if not p.name.startswith(".")]
    students = sorted(p.name for p in entries if os.path.lexists(p / assignment))
    if students:
        return students
    flat = sorted(p.name for p in entries if p.suffix == ".ipynb")
    if flat:
        shown = ", ".join(flat[:3]) + (", …" if len(flat) > 3 else "")
        raise LayoutError(_("{folder} holds notebooks directly ({names}); grade-batch expects {layout}: put "
                            "each student's notebook in <student>/{assignment}/").format(
            folder=submitted, names=shown, layout=_(LAYOUT), assignment=assignment))
    others = sorted({q.name for p in entries if p.is_dir() and not p.is_symlink() for q in p.iterdir() if q.is_dir()})
    if others:
        raise LayoutError(_("no submission of {assignment} in {folder} (its student folders hold {names}); "
                            "expected {layout}").format(assignment=assignment, folder=submitted,
                                                        names=", ".join(others[:5]), layout=_(LAYOUT)))
    raise LayoutError(_("{folder} holds no submissions; expected {layout}").format(folder=submitted,
                                                                                   layout=_(LAYOUT)))
