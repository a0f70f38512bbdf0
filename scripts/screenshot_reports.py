"""Grade the sample class, write its feedback pages and class report, and photograph them in headless Chromium.

    .venv/bin/python scripts/screenshot_reports.py [-o out/screenshots] [--no-install]

The pages are meant to be read in a browser, so this is how they are checked: a real Chromium
renders them (no JavaScript, no network) and the screenshots are written to OUT/*.png for a person
to look at. Besides examples/submitted it grades one hostile submission, "mallory", whose markdown,
outputs and metadata try to inject script into the instructor's page; `--dump-dom` then shows
whether any of it ran. Chromium is installed from Debian's packages when missing and run as root.

tests/test_reports.py imports `find_chromium`, `screenshot`, `dump_dom`, `is_blank` and
`hostile_notebook` from here, so the browser check runs in pytest wherever Chromium is on PATH.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PWNED = "PWNED-BY-STUDENT"  # what every payload tries to write into the page's title or body


def find_chromium() -> str | None:
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def ensure_chromium(install: bool) -> str:
    """Chromium from PATH, or from Debian's packages when missing and allowed (needs root)."""
    found = find_chromium()
    if found or not install:
        if not found:
            raise SystemExit("no Chromium on PATH; install it (apt-get install -y chromium) or drop --no-install")
        return found
    if os.geteuid() != 0:
        raise SystemExit("Chromium is missing; as root run: apt-get update && apt-get install -y chromium")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "chromium", "fonts-dejavu-core"], check=True, env=env)
    found = find_chromium()
    if not found:
        raise SystemExit("apt-get installed chromium but no binary is on PATH")
    return found


def _browser_args(browser: str, profile: str) -> list[str]:
    # --no-sandbox: Chromium refuses to start as root otherwise; a fresh profile lets runs overlap.
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}"]


def screenshot(browser: str, page: Path, png: Path, width: int = 1280, height: int = 2400) -> Path:
    """A PNG of the top `height` pixels of `page` as Chromium renders it."""
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        subprocess.run(_browser_args(browser, profile) + [f"--screenshot={png}", f"--window-size={width},{height}",
                                                          Path(page).resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
    if not png.is_file():
        raise RuntimeError(f"Chromium wrote no screenshot of {page}")
    return png


def dump_dom(browser: str, page: Path) -> str:
    """The DOM after Chromium loaded the page: any script that ran has left its mark here."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        done = subprocess.run(_browser_args(browser, profile) + ["--dump-dom", Path(page).resolve().as_uri()],
                              check=True, capture_output=True, text=True, timeout=120)
    return done.stdout


def is_blank(png: Path, min_colours: int = 32, min_inked: float = 0.02) -> bool:
    """True when the screenshot is (nearly) one colour: a page that failed to render."""
    from PIL import Image

    with Image.open(png) as image:
        pixels = image.convert("RGB")
        colours = pixels.getcolors(maxcolors=1 << 20) or []
        inked = sum(count for count, rgb in colours if min(rgb) < 235)
        return len(colours) < min_colours or inked < min_inked * pixels.width * pixels.height


# ---------------------------------------------------------------- the hostile submission

def _png_base64() -> str:
    """A small real plot, so the page shows that ordinary image outputs survive the sanitizer."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3, 1.6), dpi=80)
    ax = figure.add_subplot()
    ax.plot([0, 1, 2, 3], [0, 1, 0.5, 2], color="#4c72b0")
    ax.set_title("loss")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def hostile_notebook(assignment: str = "01_rnn") -> dict:
    """A correct submission whose text tries every way into the page, with its `rnn_shapes` test cell deleted."""
    from examples.samples import make_notebook

    nb = make_notebook(assignment)
    js = f"document.title='{PWNED}';document.body.setAttribute('data-pwned','{PWNED}')"
    markdown = (
        "## Notes from mallory\n\n"
        "A *normal* paragraph with `code`, a [link](https://pytorch.org) and a table:\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        f"<script>{js}</script>\n\n"
        f'<img src="x" onerror="{js}">\n\n'
        f"[click me](javascript:{js})\n\n"
        f'<a href="javascript:{js}">another link</a>\n\n'
        f'<svg onload="{js}"><circle r="5"/></svg>\n\n'
        f'<iframe src="javascript:{js}"></iframe>\n\n'
        '<meta http-equiv="refresh" content="0;url=https://example.com/phish">\n\n'
        '<base href="https://example.com/">\n\n'
        '<style>body { display: none !important; }</style>\n\n'
        f'<form action="https://example.com"><button formaction="javascript:{js}">send</button></form>\n\n'
        '<div class="ag ag-result ag-pass" id="check-rnn_forward_values"><h2>rnn_forward: values 4 / 4</h2></div>\n\n'
        f"Math: $\\href{{javascript:{js}}}{{x}}$, $$\\frac{{1}}{{2}}<script>{js}</script>$$ and "
        f'<math href="javascript:{js}" onclick="{js}"><mi xlink:href="javascript:{js}">y</mi>'
        f'<maction actiontype="statusline"><mi>z</mi></maction></math>\n'
    )
    cells = nb["cells"]
    intro = next(i for i, c in enumerate(cells) if c["cell_type"] == "markdown")
    cells.insert(intro + 1, {"cell_type": "markdown", "id": "mallory-notes", "source": markdown,
                             "metadata": {"tags": [f'x" onmouseover="{js}']}})
    demo = next(c for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "setup")
    demo["execution_count"] = 3
    demo["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": f"output: (100, 32, 50)\n<script>{js}</script>\n"},
        {"output_type": "display_data", "metadata": {}, "data": {
            "text/html": f'<table><tr><th>layer</th><th>params</th></tr><tr><td>0</td><td>3600</td></tr></table>'
                         f'<img src=x onerror="{js}"><script>{js}</script>',
            "text/plain": "<table>"}},
        {"output_type": "display_data", "metadata": {}, "data": {"application/javascript": js, "text/plain": "js"}},
        {"output_type": "display_data", "metadata": {}, "data": {"text/markdown": f"**bold** <script>{js}</script>"}},
        {"output_type": "display_data", "data": {"image/png": _png_base64(), "text/plain": "<Figure>"},
         "metadata": {"image/png": {"width": f'300 onerror="{js}"'}}},
        {"output_type": "display_data", "metadata": {},
         "data": {"text/vnd.mermaid": f"graph TD;</pre><script>{js}</script><pre>"}},
        {"output_type": "display_data", "metadata": {}, "data": {
            "application/vnd.jupyter.widget-view+json": {"model_id": "x", "version_major": 2, "version_minor": 0},
            "text/plain": "widget"}},
        {"output_type": "execute_result", "execution_count": 3, "metadata": {},
         "data": {"text/plain": f"'<script>{js}</script>'"}},
        {"output_type": "error", "ename": "ValueError", "evalue": f"<script>{js}</script>",
         "traceback": ["\x1b[0;31mValueError\x1b[0m: <script>" + js + "</script>"]},
    ]
    nb["metadata"]["title"] = f"</title><script>{js}</script>"
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {}, "version_major": 2, "version_minor": 0, "extra": f"</script><script>{js}</script>"}}
    nb["cells"] = [c for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") != "rnn_shapes"]
    return nb


# ---------------------------------------------------------------- the run

def build_class(work: Path) -> Path:
    """examples/submitted plus mallory, in a scratch copy (the committed examples are left as they are)."""
    from examples.samples import write_notebook

    submitted = work / "submitted"
    shutil.rmtree(submitted, ignore_errors=True)
    shutil.copytree(ROOT / "examples" / "submitted", submitted)
    write_notebook(hostile_notebook(), submitted / "mallory" / "01_rnn" / "01_rnn.ipynb")
    return submitted


def grade_and_report(submitted: Path, graded: Path) -> Path:
    from autograder import course
    from autograder.judge import grading, runner
    from autograder.reports import class_report, feedback

    assignments = sorted({p.name for p in submitted.glob("*/*") if p.is_dir()})
    launcher = runner.make_launcher(course.hidden_paths([submitted, graded.resolve()]), runner.Limits())
    try:
        for assignment in assignments:
            grading.grade_batch(submitted, assignment, graded, launcher=launcher, progress=False)
            feedback.write_batch_feedback(submitted, assignment, graded, show_hidden=True)
    finally:
        launcher.close()
    import json

    ben = graded / "ben" / "01_rnn"
    feedback.write_feedback(ben / "feedback_student.html", submitted / "ben" / "01_rnn" / "01_rnn.ipynb",
                            json.loads((ben / "results.json").read_text(encoding="utf-8")), show_hidden=False)
    return class_report.write_class_report(graded)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", default=str(ROOT / "out" / "screenshots"))
    parser.add_argument("--no-install", action="store_true", help="fail instead of installing Chromium")
    args = parser.parse_args(argv)
    browser = ensure_chromium(install=not args.no_install)
    out = Path(args.output).resolve()
    graded = out / "graded"
    report = grade_and_report(build_class(out), graded)
    pages = [
        ("feedback_ada_01_rnn", graded / "ada" / "01_rnn" / "feedback.html", 2400),
        ("feedback_ben_01_rnn_instructor", graded / "ben" / "01_rnn" / "feedback.html", 6000),
        ("feedback_ben_01_rnn_student", graded / "ben" / "01_rnn" / "feedback_student.html", 6000),
        ("feedback_hana_01_rnn_timeout", graded / "hana" / "01_rnn" / "feedback.html", 2400),
        ("feedback_jo_01_rnn_unreadable", graded / "jo" / "01_rnn" / "feedback.html", 2000),
        ("feedback_mallory_01_rnn_hostile", graded / "mallory" / "01_rnn" / "feedback.html", 4000),
        ("feedback_cleo_03_gru", graded / "cleo" / "03_gru" / "feedback.html", 2400),
        ("class_report", report, 7000),
    ]
    failures = 0
    for name, page, height in pages:
        png = screenshot(browser, page, out / f"{name}.png", height=height)
        blank = is_blank(png)
        failures += blank
        print(f"{'BLANK' if blank else 'ok   '} {png}")
    dom = dump_dom(browser, graded / "mallory" / "01_rnn" / "feedback.html")
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(dom, "html.parser")
    title = soup.title.get_text() if soup.title else ""
    ran = PWNED in title or soup.find(attrs={"data-pwned": True}) is not None
    print(f"{'SCRIPT RAN' if ran else 'ok   '} no student script ran in mallory's page (checked with --dump-dom)")
    return 1 if failures or ran else 0


if __name__ == "__main__":
    sys.exit(main())
