"""The web page's JSON endpoints, over real HTTP against the uvicorn server ``store.ui()`` starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from tests.ui.conftest import Answer, UIStore, fetch

import recordkit as rk


def api(page: Any, path: str, **params: Any) -> Any:
    query = urlencode(params, doseq=True)
    answer = fetch(page.url, f"{path}?{query}" if query else path)
    assert answer.status == 200, answer.body
    return answer.json()


def names(page_rows: dict[str, Any]) -> list[str]:
    return [row["name"] for row in page_rows["rows"]]


# --- the store and the runs table -----------------------------------------------------------------


def test_store_lists_collections(page: Any, ui_store: UIStore) -> None:
    info = api(page, "/api/store")
    assert info["url"] == str(ui_store.path)
    assert info["collections"] == [{"name": "study", "runs": 6}, {"name": "other", "runs": 1}]


def test_runs_table_has_every_run_with_its_status(page: Any) -> None:
    table = api(page, "/api/runs")
    assert table["total"] == 7
    status = {row["name"]: row["status"] for row in table["rows"]}
    assert status == {"baseline": "finished", "sub-1": "finished", "high-lr": "finished", "broken": "failed",
                      "crashy": "crashed", "solo": "finished", "live": "running"}
    assert {"loss", "acc", "epoch", "config.lr", "config.opt.name"} <= set(table["columns"])
    broken = next(row for row in table["rows"] if row["name"] == "broken")
    assert broken["loss"] == "NaN"  # strict JSON: NaN travels as text


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"status": "crashed"}, ["crashy"], id="status"),
        pytest.param({"q": "LR"}, ["high-lr"], id="search-any-case"),
        pytest.param({"tag": "sweep"}, ["high-lr"], id="tag"),
        pytest.param({"collection": "other"}, ["solo"], id="collection"),
        pytest.param({"filter": ["phase=train/acc>0.9"]}, ["baseline"], id="metric-comparison"),
        pytest.param({"filter": ["acc>0.1"]}, ["solo"], id="a-bare-key-is-that-series"),
        pytest.param({"filter": ["config.lr<=0.1", "phase=train/loss<1"]}, ["baseline"], id="config-and-metric"),
        pytest.param({"filter": ["config.lr<=0.1", "loss<1"]}, ["live"], id="config-and-root-metric"),
        pytest.param({"filter": ["config.opt.name~AD"]}, ["high-lr"], id="contains"),
        pytest.param({"filter": ["config.lr!=0.1"], "top": "1", "sort": "-config.lr"},
                     ["broken", "crashy", "high-lr", "solo", "live"], id="not-equal-sorted-top-level"),
        pytest.param({"sort": "-phase=train/acc", "limit": 2}, ["baseline", "high-lr"], id="sort-by-metric"),
        pytest.param({"sort": "name", "offset": 5, "limit": 5}, ["solo", "sub-1"], id="second-page"),
    ],
)
def test_runs_table_filters_sorts_and_pages_on_the_server(page: Any, params: dict[str, Any],
                                                          expected: list[str]) -> None:
    table = api(page, "/api/runs", **params)
    assert sorted(names(table)) == sorted(expected) if "sort" not in params else names(table) == expected
    if "offset" not in params and "limit" not in params:
        assert table["total"] == len(expected)


def test_runs_table_sends_only_the_chosen_columns(page: Any) -> None:
    table = api(page, "/api/runs", columns="loss", limit=3)
    assert len(table["rows"]) == 3 and "acc" in table["columns"]
    assert all("acc" not in row and "config.lr" not in row and "status" in row for row in table["rows"])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param({"filter": ["acc"]}, "KEY=VALUE or KEY>VALUE", id="no-operator"),
        pytest.param({"filter": [">3"]}, "KEY=VALUE or KEY>VALUE", id="no-column"),
        pytest.param({"filter": ["acx=1"]}, "'acx' is no run field or config key", id="unknown-equality"),
        pytest.param({"filter": ["acx>1"]}, "'acx' is in no listed run", id="unknown-column"),
        pytest.param({"filter": ["acc>1", "acc<2"]}, "filtered twice", id="twice"),
        pytest.param({"limit": "0"}, "limit is 1 to 500", id="limit"),
        pytest.param({"offset": "x"}, "whole number", id="not-a-number"),
        pytest.param({"sort": "nope"}, "cannot sort by 'nope'", id="sort"),
    ],
)
def test_a_bad_runs_request_says_what_was_wrong(page: Any, params: dict[str, Any], message: str) -> None:
    answer = fetch(page.url, f"/api/runs?{urlencode(params, doseq=True)}")
    assert answer.status == 400
    assert message in answer.json()["error"]


def test_live_rows_report_running_runs(page: Any, ui_store: UIStore) -> None:
    live = ui_store.runs["live"]
    (row,) = api(page, "/api/live", ids=f"{live.id},nope")["runs"]
    assert row["status"] == "running" and row["loss"] == pytest.approx(0.1) and row["end"] is None


# --- one run --------------------------------------------------------------------------------------


def test_run_page_has_everything_the_run_recorded(page: Any, ui_store: UIStore) -> None:
    base = ui_store.runs["baseline"]
    run = api(page, f"/api/runs/{base.id}")
    assert (run["name"], run["status"], run["number"], run["tags"]) == ("baseline", "finished", 1, ["resnet"])
    assert run["config"] == {"lr": 0.1, "opt": {"name": "sgd"}}
    assert run["git"]["dirty"] is True and "+lr = 0.3  # tried on the page" in run["git"]["diff_text"]
    assert "python" in run["env"] and "git" not in run["env"]
    summary = run["summary"]
    assert (summary["phase=train/loss"]["count"], summary["phase=eval/loss"]["count"]) == (200, 10)
    assert summary["phase=train/acc"]["last"] == pytest.approx(0.995)
    assert "notes/hello.txt" in [f["name"] for f in run["files"]]
    assert [c["name"] for c in run["children"]] == ["sub-1"] and run["children"][0]["kind"] == "squeeze"
    links = {(link["relation"], link["direction"], link["other"]["name"]) for link in run["links"]}
    assert ("fine-tunes", "in", "high-lr") in links
    assert run["error"] is None and run["events"] >= 4
    if run["checkpoints"]:  # torch is installed
        (checkpoint,) = run["checkpoints"]
        assert checkpoint["name"] == "net" and checkpoint["metrics"] == {"loss": 0.01} and checkpoint["file"]
    sub = api(page, f"/api/runs/{ui_store.runs['sub-1'].id}")
    assert sub["parent"]["name"] == "baseline" and sub["kind"] == "squeeze"


def test_run_page_shows_the_error_and_traceback(page: Any, ui_store: UIStore) -> None:
    broken = api(page, f"/api/runs/{ui_store.runs['broken'].id}")
    assert broken["status"] == "failed" and broken["error"]["type"] == "ValueError"
    assert broken["error"]["message"] == "loss diverged" and "raise ValueError" in broken["error"]["traceback"]
    crashed = api(page, f"/api/runs/{ui_store.runs['crashy'].id}")
    assert crashed["status"] == "crashed" and crashed["error"]["type"] == "Crashed"


def test_an_unknown_run_is_404(page: Any) -> None:
    answer = fetch(page.url, "/api/runs/doesnotexist")
    assert answer.status == 404 and "no run with id 'doesnotexist'" in answer.json()["error"]


def test_events_come_a_page_at_a_time(page: Any, ui_store: UIStore) -> None:
    base = ui_store.runs["baseline"].id
    everything = api(page, f"/api/runs/{base}/events")
    assert everything["events"][0]["name"] == "started" and everything["total"] >= 4
    second = api(page, f"/api/runs/{base}/events", offset=1, limit=1)
    assert second["events"] == everything["events"][1:2]
    under = api(page, f"/api/runs/{base}/events", prefix="epoch/2")
    assert [(e["name"], e["data"]) for e in under["events"]] == [("epoch/2/eval", {"acc": 0.8})]


def test_files_download_as_attachments(page: Any, ui_store: UIStore) -> None:
    base = ui_store.runs["baseline"].id
    answer = fetch(page.url, f"/api/runs/{base}/files/notes/hello.txt")
    assert answer.status == 200 and answer.body == b"hello from the run\n"
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["content-disposition"].startswith('attachment; filename="hello.txt"')
    assert answer.headers["x-content-type-options"] == "nosniff"
    missing = fetch(page.url, f"/api/runs/{base}/files/notes/nope.txt")
    assert missing.status == 404 and "has no file named 'notes/nope.txt'" in missing.json()["error"]
    escaping = fetch(page.url, f"/api/runs/{base}/files/{quote('../../recordkit.db', safe='')}")
    assert escaping.status in (400, 404) and b"SQLite" not in escaping.body


# --- series ---------------------------------------------------------------------------------------


def test_a_key_in_two_scopes_is_two_series(page: Any, ui_store: UIStore) -> None:
    base, high = ui_store.runs["baseline"].id, ui_store.runs["high-lr"].id
    data = api(page, "/api/series", runs=f"{base},{high}", key="loss", width=400)
    labels = [(s["run"], s["label"], s["points"], s["raw"]) for s in data["series"]]
    assert labels == [(base, "phase=train/loss", 200, True), (base, "phase=eval/loss", 10, True),
                      (high, "phase=train/loss", 100, True)]
    evaluated = data["series"][1]
    assert evaluated["x"] == list(range(0, 200, 20)) and evaluated["y"][0] == 2.5
    assert api(page, "/api/keys", runs=f"{base},{high}")["keys"] == ["loss", "acc", "epoch"]


def test_series_against_time_and_epoch(page: Any, ui_store: UIStore) -> None:
    base = ui_store.runs["baseline"].id
    timed = api(page, "/api/series", runs=base, key="loss", x="time")["series"][0]
    assert 0 <= timed["x"][0] <= timed["x"][-1] < 600
    by_epoch = api(page, "/api/series", runs=base, key="loss", x="epoch")["series"]
    assert by_epoch[1]["x"] == list(range(10))  # the eval scope logged once per epoch
    assert by_epoch[0]["x"][:21] == [0] * 20 + [1]
    solo = ui_store.runs["solo"].id
    mixed = api(page, "/api/series", runs=f"{base},{solo}", key="loss", x="epoch")
    assert {s["run"] for s in mixed["series"]} == {base}
    assert mixed["skipped"] == [{"run": solo, "reason": "run solo logged no 'epoch' key"}]


def test_bad_series_requests(page: Any, ui_store: UIStore) -> None:
    base = ui_store.runs["baseline"].id
    for query, message in [(f"runs={base}", "needs key=NAME"), (f"runs={base}&key=loss&x=wall", "x is one of"),
                           (f"runs={base}&key=loss&width=0", "width is 1 to"),
                           (f"runs={base}&key=loss&after=[1]", "after is a JSON object"),
                           (f"runs={base}&key=loss&lo=a", "lo is a finite number"),
                           (f"runs={base}&key=loss&hi=nan", "hi is a finite number")]:
        answer = fetch(page.url, f"/api/series?{query}")
        assert answer.status == 400 and message in answer.json()["error"], query


def test_live_series_send_only_new_points(page: Any, ui_store: UIStore) -> None:
    live = ui_store.runs["live"]
    first = api(page, "/api/series", runs=live.id, key="loss")
    assert first["live"] == [live.id]
    (series,) = first["series"]
    assert series["points"] == 10 and series["x"] == list(range(10))
    for step in range(10, 15):
        live.log({"loss": 1.0 / (step + 1)}, step=step)
    live.flush()
    after = json.dumps({live.id: series["last_seq"]})
    (new,) = api(page, "/api/series", runs=live.id, key="loss", after=after)["series"]
    assert new["x"] == [10, 11, 12, 13, 14] and new["points"] == 15 and new["last_seq"] > series["last_seq"]
    (nothing,) = api(page, "/api/series", runs=live.id, key="loss", after=json.dumps({live.id: new["last_seq"]}))[
        "series"]
    assert nothing["x"] == []


@pytest.fixture(scope="module")
def long_run_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    store = rk.open(tmp_path_factory.mktemp("long") / "records")
    with store.collection("long").start_run(capture=False) as run:
        for step in range(20_000):
            run.log({"y": float(step % 100) if step != 12_345 else 1e6}, step=step)
    handle = store.ui()
    yield handle, run.id
    handle.stop()
    store.close()


def test_a_long_series_is_downsampled_and_zooming_sends_raw_points(long_run_page: tuple[Any, str]) -> None:
    page, run_id = long_run_page
    (full,) = api(page, "/api/series", runs=run_id, key="y", width=200)["series"]
    assert full["points"] == 20_000 and not full["raw"] and len(full["x"]) <= 4 * 200
    assert max(full["y"]) == 1e6 and min(full["y"]) == 0  # the spike survives downsampling
    assert full["x"][0] == 0 and full["x"][-1] == 19_999
    (zoomed,) = api(page, "/api/series", runs=run_id, key="y", width=200, lo=12_300, hi=12_400)["series"]
    assert zoomed["raw"] and zoomed["x"] == list(range(12_299, 12_402))
    assert zoomed["y"][12_345 - 12_299] == 1e6


@pytest.mark.postgres
def test_the_page_serves_a_postgresql_store(pg_url: str, tmp_path: Path) -> None:
    store = rk.open(pg_url, files=tmp_path / "files")
    with store.collection("shared").start_run(name="pg", capture=False, config={"lr": 0.1}) as run:
        for step in range(30):
            run.scope(phase="train").log({"loss": 1.0 / (step + 1)}, step=step)
            run.scope(phase="eval").log({"loss": 2.0 / (step + 1)}, step=step)
    try:
        with store.ui() as page:
            table = api(page, "/api/runs", filter=["phase=eval/loss<0.1"])
            assert names(table) == ["pg"] and table["rows"][0]["config.lr"] == 0.1
            assert names(api(page, "/api/runs", filter=["phase=eval/loss<0.05"])) == []
            series = api(page, "/api/series", runs=run.id, key="loss", width=10)["series"]
            assert [(s["label"], s["points"], s["raw"]) for s in series] == [
                ("phase=train/loss", 30, False), ("phase=eval/loss", 30, False)]
            summary = api(page, f"/api/runs/{run.id}")["summary"]
            assert (summary["phase=train/loss"]["count"], summary["phase=eval/loss"]["count"]) == (30, 30)
    finally:
        store.close()


# --- security -------------------------------------------------------------------------------------


def test_a_foreign_host_header_is_refused(page: Any) -> None:
    for host in ("evil.example", "evil.example:80", "127.0.0.1.evil.example"):
        answer = fetch(page.url, "/api/store", host=host)
        assert answer.status == 421 and "Host header refused" in answer.json()["error"], host
    for host in ("localhost", f"localhost:{page.url.rsplit(':', 1)[1].strip('/')}", "127.0.0.1"):
        assert fetch(page.url, "/api/store", host=host).status == 200, host


def test_only_reading_methods_are_served(page: Any) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        answer = fetch(page.url, "/api/runs", method=method)
        assert answer.status == 405 and "read-only" in answer.json()["error"]


def test_the_page_and_its_files_are_served_with_strict_headers(page: Any) -> None:
    index = fetch(page.url, "/")
    assert index.status == 200 and b'<script type="module" src="/static/app.js">' in index.body
    assert "default-src 'self'" in index.headers["content-security-policy"]
    assert index.headers["x-frame-options"] == "DENY"
    for path in ("/static/app.js", "/static/chart.js", "/static/style.css", "/static/vendor/uplot/uPlot.esm.js",
                 "/static/vendor/uplot/LICENSE"):
        assert fetch(page.url, path).status == 200, path


def test_nothing_on_the_page_comes_from_the_network() -> None:
    static = Path(rk.__file__).parent / "ui" / "static"
    for path in static.rglob("*"):
        if path.is_file() and "vendor" not in path.parts:
            text = path.read_text(encoding="utf-8")
            assert "http://" not in text and "https://" not in text and "//cdn" not in text, path
    assert "MIT License" in (static / "vendor" / "uplot" / "LICENSE").read_text(encoding="utf-8")


def _serve(app: Any) -> tuple[Any, threading.Thread, str]:
    import uvicorn

    from recordkit.ui.launch import bind, url_of

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return server, thread, url_of(sock)


def test_beyond_loopback_a_token_is_required(ui_store: UIStore) -> None:
    from recordkit.ui.server import COOKIE, make_app

    # The app believes it is bound to a public address; it is served on loopback for the test.
    app = make_app(ui_store.store, host="192.0.2.7", allowed_hosts=["lab.example"])
    assert app.token and len(app.token) >= 24
    server, thread, url = _serve(app)
    try:
        def get(path: str, host: str = "192.0.2.7", **headers: str) -> Answer:
            return fetch(url, path, host=host, headers=headers)

        assert get("/api/store").status == 401 and "token is required" in get("/api/store").json()["error"]
        assert get("/api/store", Authorization="Bearer wrong").status == 401
        assert get("/api/store", Authorization=f"Bearer {app.token}").status == 200
        assert get("/api/store", host="lab.example:8000", Authorization=f"Bearer {app.token}").status == 200
        assert get("/api/store", host="other.example", Authorization=f"Bearer {app.token}").status == 421
        opened = get(f"/?token={app.token}")
        assert opened.status == 303 and opened.headers["location"] == "/"
        cookie = opened.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}={app.token}") and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert get("/api/runs", Cookie=f"{COOKIE}={app.token}").status == 200
        assert get("/api/runs", Cookie=f"{COOKIE}=nope").status == 401
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_given_token_is_used_and_loopback_needs_none(ui_store: UIStore) -> None:
    from recordkit.ui.server import make_app

    assert make_app(ui_store.store).token is None
    assert make_app(ui_store.store, host="::1").token is None
    assert make_app(ui_store.store, host="0.0.0.0", token="given-token").token == "given-token"


# --- starting it ----------------------------------------------------------------------------------


def test_store_ui_returns_a_handle_that_stops(ui_store: UIStore) -> None:
    handle = ui_store.store.ui(port=0)
    try:
        assert handle.running and handle.url.startswith("http://127.0.0.1:") and handle.token is None
        assert handle.address == handle.url and handle.url in handle._repr_html_()
        assert fetch(handle.url, "/api/store").status == 200
    finally:
        handle.stop()
    assert not handle.running and "stopped" in repr(handle)


def test_the_command_prints_its_url_first(ui_store: UIStore) -> None:
    env = {**os.environ, "RECORDKIT_UI_TOKEN": ""}
    env.pop("RECORDKIT_UI_TOKEN")
    child = subprocess.Popen([sys.executable, "-m", "recordkit", "ui", str(ui_store.path), "--port", "0"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None
        first = child.stdout.readline().rstrip("\n")
        assert first.startswith("recordkit ui: http://127.0.0.1:") and first.endswith("/"), first
        port = int(first.rsplit(":", 1)[1].strip("/"))
        assert port > 0
        url = first.split(": ", 1)[1]
        assert fetch(url, "/api/store").json()["url"] == str(ui_store.path)
    finally:
        child.terminate()
        child.communicate(timeout=30)


def test_the_command_refuses_a_missing_store(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "recordkit", "ui", str(tmp_path / "nothing")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Error:" in done.stderr and done.stdout == ""


def test_import_recordkit_loads_no_web_framework() -> None:
    code = "import sys, recordkit; print(sorted(m for m in ('starlette', 'uvicorn') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_without_the_extra_the_error_names_it() -> None:
    code = ("import sys; sys.modules['starlette'] = None\n"
            "import recordkit as rk, tempfile\n"
            "try:\n    rk.open(tempfile.mkdtemp()).ui()\n"
            "except rk.MissingDependencyError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "pip install 'recordkit[ui]'" in done.stdout


@pytest.mark.slow
def test_the_wheel_ships_the_page(tmp_path: Path) -> None:
    import zipfile

    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path), str(root)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("recordkit-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    for name in ("index.html", "app.js", "chart.js", "style.css", "vendor/uplot/uPlot.esm.js",
                 "vendor/uplot/uPlot.min.css", "vendor/uplot/LICENSE"):
        assert f"recordkit/ui/static/{name}" in shipped, name
