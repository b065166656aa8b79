"""The web page in headless Chromium: the runs table of 10,000 runs and a 1,000,000-point series.

Stores, built once and cached in the temporary folder: the 10,000-run store of ``bench_ls`` (one real
run copied with its own config, status and summary of five metrics), and a store of one run that
logged ``loss`` 1,000,000 times under ``phase=train`` and 10,000 times under ``phase=eval`` through
the API (``recordkit-bench-ui-1m-v<n>``).

Timed in the browser, from the page's own ``performance`` marks (set one frame after the table or
chart is drawn), median of several, each on a fresh server (``store.ui()``) unless called warm:

* first paint of the runs table (50 rows of 10,000): cold (the server reads the run table) and warm
  (the same page again: the server's table is reused), and the next page;
* the 1,000,000-point series drawn in the compare view: cold (the server reads the series from the
  store, then downsamples it to the chart's width) and warm (read before: only downsampled and drawn);
* zooming into 1,000 steps of it (the raw points of the range are fetched and drawn).

Floor, measured in the same run and browser: a bare static HTML page from a stdlib HTTP server, first
paint from navigation start. Timings are reported, never asserted.
"""

from __future__ import annotations

import functools
import http.server
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks._util import Result, median, say

SERIES_POINTS = 1_000_000
CACHE_VERSION = 1
TARGET_MS = 1000.0


def _series_store() -> Path:
    import recordkit as rk

    folder = Path(tempfile.gettempdir()) / f"recordkit-bench-ui-1m-v{CACHE_VERSION}"
    marker = folder / "complete"
    if not marker.exists():
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        say(f"ui: recording a run of {SERIES_POINTS:,} points in {folder} (once; cached)")
        t0 = time.perf_counter()
        store = rk.open(folder / "records")
        with store.collection("long").start_run(name="million", capture=False) as run:
            train, evaluate = run.scope(phase="train"), run.scope(phase="eval")
            for step in range(SERIES_POINTS):
                train.log({"loss": 1.0 / (step + 1) + (step % 1000) * 1e-6}, step=step)
                if step % 100 == 0:
                    evaluate.log({"loss": 1.2 / (step + 1)}, step=step)
        store.close()
        marker.write_text("done\n", encoding="utf-8")
        say(f"ui: recorded in {time.perf_counter() - t0:.0f} s")
    return folder / "records"


def _floor_server() -> tuple[http.server.ThreadingHTTPServer, str]:
    folder = Path(tempfile.mkdtemp(prefix="recordkit-bench-ui-floor-"))
    (folder / "index.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>floor</title></head>"
        "<body><table><tr><td>bare</td></tr></table></body></html>", encoding="utf-8")
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/index.html"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _mark(tab: Any, name: str, timeout: float = 120.0) -> float:
    """Milliseconds from navigation start to the latest ``performance`` mark called ``name``."""
    tab.wait_for_function(f"() => performance.getEntriesByName({name!r}).length > 0", timeout=timeout * 1000)
    return float(tab.evaluate(f"() => performance.getEntriesByName({name!r}).at(-1).startTime"))


def _first_paint(tab: Any) -> float:
    tab.wait_for_function("() => performance.getEntriesByType('paint').length > 0")
    return float(tab.evaluate("() => performance.getEntriesByType('paint')[0].startTime"))


def _timed_action(tab: Any, script: str, name: str) -> float:
    """Milliseconds from running ``script`` in the page to the next ``name`` mark (no Playwright
    actionability waits in the figure)."""
    before = len(tab.evaluate(f"() => performance.getEntriesByName({name!r})"))
    start = float(tab.evaluate(f"() => {{ const t = performance.now(); {script}; return t; }}"))
    tab.wait_for_function(f"() => performance.getEntriesByName({name!r}).length > {before}", timeout=120_000)
    return float(tab.evaluate(f"() => performance.getEntriesByName({name!r}).at(-1).startTime")) - start


def run(quick: bool) -> list[Result]:
    from tests.ui import browser

    import recordkit as rk
    from benchmarks.bench_ls import cached_store

    problem = browser.missing()
    if problem is not None:
        raise RuntimeError(f"the ui benchmark needs a browser: {problem}")
    repeats = 2 if quick else 5
    runs_store = rk.open(cached_store(10_000), create=False)
    series_store = rk.open(_series_store(), create=False)
    (series_run,) = series_store.collection("long").runs()
    floor_server, floor_url = _floor_server()
    compare = f"#/compare?runs={series_run.id}&key=loss"
    found: dict[str, list[float]] = {k: [] for k in ("floor", "cold", "warm", "next", "s_cold", "s_warm", "zoom")}
    try:
        with browser.browser_context() as context:
            tab = context.new_page()
            tab.goto(floor_url)  # the browser's own start-up is no part of any figure
            for i in range(repeats):
                say(f"ui: round {i + 1} of {repeats}")
                tab.goto(floor_url)
                found["floor"].append(_first_paint(tab))
                with runs_store.ui() as page:
                    tab.goto(page.url)
                    found["cold"].append(_mark(tab, "recordkit:runs-drawn"))
                    tab.goto("about:blank")
                    tab.goto(page.url)
                    found["warm"].append(_mark(tab, "recordkit:runs-drawn"))
                    found["next"].append(_timed_action(tab, "document.getElementById('next').click()",
                                                       "recordkit:runs-drawn"))
                with series_store.ui() as page:
                    tab.goto(page.url + compare)
                    found["s_cold"].append(_mark(tab, "recordkit:chart-drawn"))
                    tab.goto("about:blank")
                    tab.goto(page.url + compare)
                    found["s_warm"].append(_mark(tab, "recordkit:chart-drawn"))
                    tab.fill("#zoom-lo", "500000")
                    tab.fill("#zoom-hi", "501000")
                    found["zoom"].append(_timed_action(tab, "document.getElementById('zoom-hi').form.requestSubmit()",
                                                       "recordkit:chart-drawn"))
                    info = tab.locator(".chart-info").inner_text()
            say(f"ui: last zoomed chart says: {info}")
    finally:
        floor_server.shutdown()
        runs_store.close()
        series_store.close()
    ms = {name: median(values) for name, values in found.items()}
    floor = ms["floor"]
    label = "bare static page, first paint"
    note = (f"headless Chromium ({browser.CHROMIUM}), median of {repeats}; 50 rows of 10,000 runs; the series "
            f"is {SERIES_POINTS:,} points of phase=train/loss plus 10,000 of phase=eval/loss, drawn M4-downsampled "
            "to the chart's width; cold = a fresh server that reads the store, warm = the same page again")

    def result(metric: str, key: str, target: bool = False) -> Result:
        value = ms[key]
        return Result("ui", metric, value, "ms", floor, label, f"≤ {TARGET_MS:g} ms" if target else "",
                      value <= TARGET_MS if target else None)

    return [
        Result("ui", "runs table first paint, 10,000 runs (cold server)", ms["cold"], "ms", floor, label, note=note),
        result("runs table first paint, 10,000 runs (warm)", "warm"),
        result("runs table, next page", "next"),
        result("1,000,000-point series drawn (cold: read from the store)", "s_cold"),
        result("1,000,000-point series drawn (warm)", "s_warm", target=True),
        result("zoom into 1,000 raw points of it", "zoom", target=True),
    ]
