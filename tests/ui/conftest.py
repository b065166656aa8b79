"""Fixtures of the web page's tests: a store made here (every kind of run) and its page, served for real.

``ui_store`` holds collection ``study`` with ``baseline`` (two scopes, an epoch key, events, a file,
a checkpoint when torch is there, a git diff, a sub-run, a link), ``high-lr``, ``broken`` (failed with
a traceback), ``crashy`` (its process died: crashed) and ``live`` (still running in this process),
and collection ``other`` with ``solo``. ``page`` serves it with ``store.ui()`` on a free port.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import recordkit as rk

pytest.importorskip("starlette", reason="the web page needs the ui extra: pip install 'recordkit[ui]'")
pytest.importorskip("uvicorn", reason="the web page needs the ui extra: pip install 'recordkit[ui]'")


def _dirty_repo(folder: Path) -> Path:
    """A git repository with one committed file changed since (so a run captures a diff)."""
    folder.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@e"}
    (folder / "train.py").write_text("lr = 0.1\n", encoding="utf-8")
    for args in (["init", "-q"], ["add", "train.py"], ["commit", "-qm", "first"]):
        subprocess.run(["git", *args], cwd=folder, env=env, check=True, capture_output=True)
    (folder / "train.py").write_text("lr = 0.3  # tried on the page\n", encoding="utf-8")
    return folder


def _crash(store_path: Path) -> None:
    """A run whose process dies without a word: the next reader marks it crashed."""
    code = textwrap.dedent(f"""
        import os, recordkit as rk
        run = rk.open({str(store_path)!r}).collection("study").start_run(name="crashy", capture=False,
                                                                       config={{"lr": 0.5}})
        run.log(loss=5.0)
        run.flush()
        os._exit(1)
    """)
    subprocess.run([sys.executable, "-c", code], check=False, timeout=120)


@dataclass
class UIStore:
    store: rk.Store
    path: Path
    runs: dict[str, rk.Run]


def build_ui_store(root: Path) -> UIStore:
    """The store every web-page test reads (see the module docstring); its ``live`` run is left running."""
    path = root / "records"
    store = rk.open(path)
    study = store.collection("study")
    runs: dict[str, rk.Run] = {}
    repo = _dirty_repo(root / "repo")
    here = Path.cwd()
    os.chdir(repo)
    try:
        base = study.start_run(config={"lr": 0.1, "opt": {"name": "sgd"}}, name="baseline", tags=["resnet"],
                               capture=["git", "python"])
    finally:
        os.chdir(here)
    train, evaluate = base.scope(phase="train"), base.scope(phase="eval")
    for step in range(200):
        train.log({"loss": 2.0 / (step + 1), "acc": step / 200}, step=step)
        if step % 20 == 0:
            evaluate.log({"loss": 2.5 / (step + 1)}, step=step)
            base.log({"epoch": step // 20}, step=step)
    base.event("epoch/2/eval", acc=0.8)
    base.attach(b"hello from the run\n", name="notes/hello.txt")
    try:
        import torch

        base.save_model(torch.nn.Linear(2, 2), "net", metrics={"loss": 0.01})
    except ImportError:
        pass
    with base.sub_run("squeeze", name="sub-1", capture=False) as sub:
        sub.log(loss=0.7)
    base.finish()
    runs["baseline"], runs["sub-1"] = base, sub
    with study.start_run(config={"lr": 0.3, "opt": {"name": "adam"}}, name="high-lr", tags=["resnet", "sweep"],
                         capture=False) as run:
        high = run.scope(phase="train")
        for step in range(100):
            high.log({"loss": 3.0 / (step + 1), "acc": 0.5 + step / 250}, step=step)
        run.link(base, "fine-tunes")
    runs["high-lr"] = run
    with pytest.raises(ValueError), study.start_run(config={"lr": 9.0}, name="broken", capture=False) as run:
        run.log(loss=float("nan"))
        raise ValueError("loss diverged")
    runs["broken"] = run
    store.flush()
    _crash(path)
    runs["crashy"] = next(run for run in study.runs() if run.name == "crashy")
    with store.collection("other").start_run(name="solo", capture=False, config={"lr": 0.2}) as run:
        run.log(loss=1.5, acc=0.2)
    runs["solo"] = run
    live = study.start_run(name="live", capture=False, config={"lr": 0.05})
    for step in range(10):
        live.log({"loss": 1.0 / (step + 1)}, step=step)
    live.flush()
    runs["live"] = live
    store.flush()
    return UIStore(store, path, runs)


@pytest.fixture(scope="module")
def ui_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIStore]:
    made = build_ui_store(tmp_path_factory.mktemp("ui"))
    yield made
    made.runs["live"].finish()
    made.store.close()


@pytest.fixture(scope="module")
def page(ui_store: UIStore) -> Iterator[Any]:
    """The store's web page served by ``store.ui()`` on a free loopback port."""
    handle = ui_store.store.ui()
    yield handle
    handle.stop()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(url: str, path: str, *, host: str | None = None, headers: dict[str, str] | None = None,
          method: str = "GET") -> Answer:
    """One real HTTP request to the served page (``host`` overrides the Host header)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host if host is not None else parts.netloc)
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        conn.endheaders()
        response = conn.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()
