"""The page in a real browser: see the runs, filter, open a run, select two, compare, zoom, go live."""

from __future__ import annotations

import json
import os
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.cli.helpers import python_m
from tests.ui import browser
from tests.ui.conftest import UIStore, fetch

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def context() -> Iterator[Any]:
    problem = browser.missing()
    if problem is not None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but the browser tests cannot run: {problem}", pytrace=False)
        pytest.skip(problem)
    with browser.browser_context() as made:
        yield made


@pytest.fixture
def tab(context: Any) -> Iterator[Any]:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    yield page
    page.close()
    assert errors == []  # no script error, no failed request, on any page


def png_is_a_picture(path: Path) -> tuple[int, int, int]:
    """(width, height, distinct bytes in the first rows): a blank or broken PNG fails here."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        if data[at + 4:at + 8] == b"IDAT":
            chunks.append(data[at + 8:at + 8 + length])
        at += 12 + length
    pixels = zlib.decompress(b"".join(chunks))
    return width, height, len(set(pixels[: width * 4 * 200]))


def rows(page: Any) -> Any:
    return page.locator("#runs tbody tr")


def test_see_filter_open_select_and_compare(tab: Any, page: Any, ui_store: UIStore, tmp_path: Path) -> None:
    tab.goto(page.url)
    tab.wait_for_selector("#runs tbody tr >> nth=6")
    assert rows(tab).count() == 7
    assert "7 runs" in tab.locator("#runs-summary").inner_text()
    crashed = tab.locator("tr.status-row-crashed")
    assert crashed.count() == 1 and "crashy" in crashed.inner_text() and "crashed" in crashed.inner_text()
    assert "running" in tab.locator("tr.status-row-running").inner_text()

    # Filter on the server: by status, then by a metric comparison typed in the filter box.
    tab.select_option("#status", "crashed")
    tab.wait_for_function("() => document.querySelectorAll('#runs tbody tr').length === 1")
    assert "crashy" in rows(tab).inner_text()
    tab.select_option("#status", "")
    tab.fill("#filter", "phase=train/acc>0.9")  # a series is named by its scope: phase=train/acc
    tab.press("#filter", "Enter")
    # One row, and the filter's (not the status filter's one row drawn a moment before).
    tab.wait_for_function("() => document.querySelectorAll('#runs tbody tr').length === 1"
                          " && document.querySelector('#runs tbody tr').textContent.includes('baseline')")
    assert "baseline" in rows(tab).inner_text() and "filter=phase" in tab.url
    tab.fill("#filter", "")
    tab.locator("h1").click()
    tab.keyboard.press("/")  # the keyboard shortcut to the search box (when not typing elsewhere)
    tab.keyboard.type("high")
    tab.keyboard.press("Enter")
    tab.wait_for_function("() => document.querySelectorAll('#runs tbody tr').length === 1")
    tab.fill("#search", "")
    tab.press("#search", "Enter")
    tab.wait_for_selector("#runs tbody tr >> nth=6")

    # Sort by clicking a header: descending on the second click.
    header = tab.locator("thead button", has_text=re.compile(r"^phase=train/acc"))
    header.click()
    tab.wait_for_function("() => decodeURIComponent(location.hash).includes('sort=phase=train/acc')")
    header.click()
    tab.wait_for_function("() => decodeURIComponent(location.hash).includes('sort=-phase=train/acc')")
    tab.wait_for_function("() => document.querySelector('#runs tbody tr a').textContent === 'baseline'")

    # Open a run: config, git diff, files, events, and its own chart.
    tab.locator("a.run-link", has_text="baseline").click()
    tab.wait_for_selector("#git pre.diff")
    assert "baseline" in tab.locator("h1").inner_text()
    assert "+lr = 0.3  # tried on the page" in tab.locator("#git pre.diff").inner_text()
    assert "sgd" in tab.locator("#config").inner_text()
    assert "notes/hello.txt" in tab.locator("#files").inner_text()
    assert "epoch/2/eval" in tab.locator("#events").inner_text()
    assert "sub-1" in tab.locator("#children").inner_text() and "fine-tunes" in tab.locator("#links").inner_text()
    tab.wait_for_selector("#run-chart canvas")
    with tab.expect_download() as download:
        tab.locator("#files a", has_text="Download").first.click()
    assert Path(download.value.path()).read_bytes() == b"hello from the run\n"

    # A failed run shows its traceback.
    tab.goto(f"{page.url}#/run/{ui_store.runs['broken'].id}")
    tab.wait_for_selector("#error pre.traceback")
    assert "ValueError" in tab.locator("#error").inner_text()

    # Select two runs and compare them: series apart by scope, labelled by it.
    tab.goto(page.url)
    tab.wait_for_selector("#runs tbody tr >> nth=6")
    tab.locator("button", has_text="Clear selection").click() if tab.locator("#clear-selection").is_enabled() else None
    for name in ("baseline", "high-lr"):
        tab.locator("#runs tbody tr", has_text=name).first.locator("input.select-run").check()
    assert tab.locator("#compare-button").inner_text() == "Compare selected (2)"
    tab.locator("#compare-button").click()
    tab.wait_for_selector("#compare-chart canvas")
    tab.wait_for_function("() => document.querySelector('#compare-chart').dataset.drawn")
    legend = tab.locator("#compare-chart .legend").inner_text()
    assert "baseline #1 · phase=eval/loss" in legend and "baseline #1 · phase=train/loss" in legend
    assert "high-lr #2 · phase=train/loss" in legend
    assert "3 series, 310 points logged" in tab.locator(".chart-info").inner_text()
    shot = tmp_path / "compare.png"
    tab.screenshot(path=str(shot), full_page=True)
    width, height, variety = png_is_a_picture(shot)
    assert width >= 1000 and height >= 600 and variety > 10 and shot.stat().st_size > 20_000

    assert tab.locator("#zoom-lo").input_value() == ""  # drawing alone zooms nothing
    # Zoom by dragging over the chart, then with the keyboard-friendly form: raw points of the range.
    over = tab.locator("#compare-chart .u-over").bounding_box()
    tab.mouse.move(over["x"] + over["width"] * 0.3, over["y"] + 50)
    tab.mouse.down()
    tab.mouse.move(over["x"] + over["width"] * 0.4, over["y"] + 60, steps=5)
    tab.mouse.up()
    tab.wait_for_function("() => document.querySelector('.chart-info').textContent.includes(' in ')")
    dragged = (float(tab.locator("#zoom-lo").input_value()), float(tab.locator("#zoom-hi").input_value()))
    assert 40 < dragged[0] < dragged[1] < 100
    tab.fill("#zoom-lo", "50")
    tab.fill("#zoom-hi", "60")
    tab.press("#zoom-hi", "Enter")
    tab.wait_for_function("() => document.querySelector('.chart-info').textContent.includes('in 50…60')")
    assert "(every point)" in tab.locator(".chart-info").inner_text()
    tab.select_option("#x-axis", "epoch")
    tab.wait_for_function("() => location.hash.includes('x=epoch')")
    tab.wait_for_function("() => document.querySelector('.chart-info').textContent.includes('points logged')")
    tab.locator("#log").check()
    tab.locator("#smooth").fill("0.6")
    assert "smooth=0.6" in tab.url and "log=1" in tab.url

    # Dark theme, remembered.
    tab.locator("#theme").click()
    assert tab.evaluate("document.documentElement.dataset.theme") == "dark"
    tab.screenshot(path=str(tmp_path / "compare-dark.png"), full_page=True)
    assert png_is_a_picture(tmp_path / "compare-dark.png")[2] > 10
    tab.locator("#theme").click()
    os.environ.get("RECORDKIT_UI_SHOTS") and shot.replace(Path(os.environ["RECORDKIT_UI_SHOTS"]) / "compare.png")


def test_a_running_run_updates_live(tab: Any, page: Any, ui_store: UIStore) -> None:
    live = ui_store.runs["live"]
    tab.goto(f"{page.url}#/compare?runs={live.id}&key=loss")
    tab.wait_for_selector("#compare-chart canvas")
    tab.wait_for_function("() => document.querySelector('.chart-info').textContent.includes('points logged')")
    before = int(tab.locator(".chart-info").inner_text().split(" points logged")[0].split()[-1].replace(",", ""))
    for step in range(100, 110):
        live.log({"loss": 0.01}, step=step)
    live.flush()
    grown = f"{before + 10} points logged"
    tab.wait_for_function(f"() => document.querySelector('.chart-info').textContent.includes('{grown}')",
                          timeout=15_000)
    tab.goto(page.url)
    tab.wait_for_selector("tr.status-row-running")
    assert "live" in tab.locator("tr.status-row-running").inner_text()


# Filter texts as typed in the page's filter box (";" between conditions); each is also given to
# `recordkit ls --where`, one --where per condition.
SAME_AS_LS = [
    "phase=train/acc>0.9",
    "config.lr<=0.1; phase=train/loss<1",
    "config.opt.name~AD",
    "status!=finished",
    "acc>0.1",
    "config.lr=0.1",
    "tags~sweep",
    "tags=resnet",  # a tag the run carries (the old page compared the whole list and found none)
    "max(phase=train/acc)>=0.5; config.lr!=0.3",
]


def test_a_filter_typed_in_the_page_selects_what_ls_where_selects(tab: Any, page: Any, ui_store: UIStore) -> None:
    tab.goto(page.url)
    tab.wait_for_selector("#runs tbody tr >> nth=6")
    for text in SAME_AS_LS:
        where = [arg for part in text.split(";") for arg in ("--where", part.strip())]
        listed = python_m("ls", str(ui_store.path), *where, "--format", "json")
        assert listed.returncode == 0, listed.stderr
        expected = sorted(row["name"] for row in json.loads(listed.stdout))
        assert expected, f"{text!r} selects no run: pick a filter that tells the two apart"
        tab.fill("#filter", text)
        tab.press("#filter", "Enter")
        tab.wait_for_function("() => location.hash.includes('filter=') && !document.querySelector('#runs[aria-busy]')")
        shown = sorted(tab.locator("#runs tbody tr a.run-link").all_inner_texts())
        assert shown == expected, text
    # A typo is the same error in both: the page's request answers what `ls` prints.
    listed = python_m("ls", str(ui_store.path), "--where", "acx>1")
    assert listed.returncode != 0 and "'acx' is in no listed run" in listed.stderr
    answer = fetch(page.url, "/api/runs?filter=acx%3E1")
    assert answer.status == 400 and "'acx' is in no listed run" in answer.json()["error"]
