"""The docs stay true: fences close, quoted figures come from the benchmark table, code blocks run.

The conventions these tests hold the pages to (also in docs/design.md, "Docs that stay true"):

* **Fences.** Every fenced block in README.md and docs/*.md is closed, and no ``## heading`` sits inside
  one (the sign of a fence left open above it, which turns the rest of the page inside out).
* **Figures.** A measured figure quoted in the prose of README.md, docs/cli.md or docs/analytics.md (a
  number followed by ``µs``, ``ms``, ``rec/s`` or ``B``, or a ratio such as ``0.36×``) is copied from
  the README's benchmark tables (the tables of its ``## Benchmarks`` section: recordkit's own and the
  one beside other trackers) exactly as printed there. Code (fenced blocks, ``inline code``) and
  tables are not prose. Settings and limits are no measurements: they use other units (``0.5 s``,
  ``10 MB``), and a product of sizes is spaced (``3 × 10``).
* **Python blocks run.** Every block fenced as ``python`` (or ``py``) in README.md and docs/*.md runs,
  a page's blocks in order, each in its own interpreter, all in one fresh folder (so a block may read
  what an earlier one stored). A block that cannot run here (a server elsewhere, a library that is no
  test dependency) says so in its fence: ```` ```python norun ````.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FIGURE_PAGES = [ROOT / "README.md", ROOT / "docs" / "cli.md", ROOT / "docs" / "analytics.md"]

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")
_FIGURE = re.compile(r"(?<![\w.,])(\d[\d,]*(?:\.\d+)?)(?: (µs|ms|rec/s|B)(?![\w/])|(×))")


def _id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def blocks(text: str) -> tuple[list[tuple[int, str, str]], list[str]]:
    """(line, info string, code) of every fenced block, and the problems found (unclosed, headings inside)."""
    found: list[tuple[int, str, str]] = []
    problems: list[str] = []
    opened: tuple[int, str, str, int] | None = None  # line, fence, info, indent
    body: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        match = _FENCE.match(line)
        if opened is None:
            if match:
                opened = (number, match.group(2), match.group(3).strip(), len(match.group(1)))
                body = []
            continue
        start, fence, info, indent = opened
        if match and match.group(2)[0] == fence[0] and len(match.group(2)) >= len(fence) and not match.group(3).strip():
            found.append((start, info, "\n".join(line[indent:] if line[:indent].isspace() else line for line in body)))
            opened = None
            continue
        if re.match(r"^#{2,6} \S", line):
            problems.append(f"line {number}: a heading inside the block fenced at line {start} (is a fence left open?)")
        body.append(line)
    if opened is not None:
        problems.append(f"the block fenced at line {opened[0]} is never closed")
    return found, problems


@pytest.mark.parametrize("page", [pytest.param(p, id=_id(p)) for p in PAGES])
def test_every_fence_is_closed(page: Path) -> None:
    _, problems = blocks(page.read_text(encoding="utf-8"))
    assert not problems, f"{_id(page)}: " + "; ".join(problems)


def test_the_fence_check_finds_an_open_fence() -> None:
    assert blocks("```\nrecordkit gc\n## recordkit sql\n\ntext\n")[1] == [
        "line 3: a heading inside the block fenced at line 1 (is a fence left open?)",
        "the block fenced at line 1 is never closed",
    ]
    assert blocks("```python\nx = 1\n```\n")[0] == [(1, "python", "x = 1")]


# --- figures ------------------------------------------------------------------------------------


def benchmark_figures(readme: str) -> set[str]:
    """Every figure in the tables of the README's Benchmarks section (``1.70 µs``, ``0.42×``)."""
    section = readme.split("\n## Benchmarks\n", 1)[1].split("\n## ", 1)[0]
    rows = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    return {_figure(m) for m in _FIGURE.finditer(rows)}


def _figure(match: re.Match[str]) -> str:
    number, unit, times = match.groups()
    return f"{number}×" if times else f"{number} {unit}"


def prose(text: str) -> str:
    """``text`` without its fenced blocks, tables and inline code."""
    lines, inside = [], None
    for line in text.splitlines():
        match = _FENCE.match(line)
        if inside is None and match:
            inside = match.group(2)
            continue
        if inside is not None:
            if match and match.group(2)[0] == inside[0] and not match.group(3).strip():
                inside = None
            continue
        if not line.startswith("|"):
            lines.append(line)
    return re.sub(r"`[^`\n]*`", "", "\n".join(lines))


def quoted_figures(page: Path) -> list[str]:
    return [_figure(m) for m in _FIGURE.finditer(prose(page.read_text(encoding="utf-8")))]


@pytest.mark.parametrize("page", [pytest.param(p, id=_id(p)) for p in FIGURE_PAGES])
def test_figures_in_prose_come_from_the_benchmark_table(page: Path) -> None:
    figures = benchmark_figures((ROOT / "README.md").read_text(encoding="utf-8"))
    # The tables were read (every unit the rule knows is in them), whatever the figures of the latest run.
    units = {figure.split()[-1] if " " in figure else "×" for figure in figures}
    assert len(figures) >= 50 and {"µs", "ms", "rec/s", "B", "×"} <= units
    unknown = [figure for figure in quoted_figures(page) if figure not in figures]
    assert not unknown, f"{_id(page)} quotes figures the README's benchmark tables do not hold: {unknown}"


def test_the_figure_check_finds_a_stale_figure(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("Logging takes about 1.5 µs, `0.3 ms` is code, 3 × 10 records, 0.5 s, 0.36× and 343 ms.\n"
                    "| a table | 9 ms |\n")
    assert quoted_figures(page) == ["1.5 µs", "0.36×", "343 ms"]


# --- python blocks ------------------------------------------------------------------------------


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """(line, code) of the page's runnable python blocks, in order."""
    found, _ = blocks(page.read_text(encoding="utf-8"))
    out = []
    for line, info, code in found:
        words = info.split()
        if words and words[0] in ("python", "py") and "norun" not in words[1:]:
            out.append((line, code))
    return out


RUNNABLE = [p for p in PAGES if python_blocks(p)]


@pytest.mark.parametrize("page", [pytest.param(p, id=_id(p)) for p in RUNNABLE])
def test_python_blocks_run(page: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECORDKIT_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env["MPLBACKEND"] = "Agg"
    for line, code in python_blocks(page):
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env
        )
        assert done.returncode == 0, f"{_id(page)}, the block at line {line} failed:\n{done.stderr[-3000:]}"
