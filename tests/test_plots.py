"""Plots: valid PNG files that show the expected series (labels and points in the PNG's metadata)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import fast_run

import recordkit as rk

Image = pytest.importorskip("PIL.Image", reason="Pillow (a matplotlib dependency) is not installed")
pytest.importorskip("matplotlib", reason="matplotlib is not installed")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# matplotlib's first two default colours: the first and second series.
C0, C1 = (0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)


def series_of(path: Path) -> list[dict[str, object]]:
    assert path.read_bytes()[:8] == PNG_MAGIC
    with Image.open(path) as image:
        image.verify()  # a complete, uncorrupted PNG
    with Image.open(path) as image:
        return json.loads(image.text["recordkit.series"])  # type: ignore[no-any-return]


def has_colour(path: Path, colour: tuple[int, int, int]) -> bool:
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        # (count, colour) pairs of every colour in the image (None only beyond maxcolors).
        colours = rgb.getcolors(maxcolors=rgb.width * rgb.height) or []
        return any(c == colour for _, c in colours)


def test_run_plot_draws_one_line_per_key(collection: rk.Collection) -> None:
    with fast_run(collection, name="base") as run:
        for step in range(20):
            run.log(loss=1 / (step + 1), acc=step / 20, note="text is skipped", step=step)
        run.log(loss=None, step=21)
    path = run.plot(["loss", "acc"])
    assert path == run.folder / "plots" / "loss-acc.png"
    assert series_of(path) == [{"label": "loss", "points": 20}, {"label": "acc", "points": 20}]
    assert has_colour(path, C0) and has_colour(path, C1)


def test_run_plot_by_a_scope_field(collection: rk.Collection, tmp_path: Path) -> None:
    with fast_run(collection) as run:
        for model in ("model1", "model2"):
            train = run.scope(model=model).scope(training=True)
            for step in range(10):
                train.log(loss=step * (1 if model == "model1" else 2), step=step)
    path = run.plot("loss", by="model", path=tmp_path / "losses.png")
    assert path == tmp_path / "losses.png"
    assert series_of(path) == [{"label": "model=model1", "points": 10}, {"label": "model=model2", "points": 10}]


def test_collection_plot_one_line_per_run(collection: rk.Collection) -> None:
    for lr in (0.1, 0.3):
        with fast_run(collection, config={"lr": lr}, name=f"lr{lr}") as run:
            for step in range(5):
                run.scope(phase="train").log(loss=lr * step, step=step)
                run.scope(phase="eval").log(loss=lr, step=step)
    path = collection.plot("loss", phase="train")
    assert path == collection.store.path / "study" / "plots" / "loss.png"  # type: ignore[operator]
    assert series_of(path) == [{"label": "#1 lr0.1", "points": 5}, {"label": "#2 lr0.3", "points": 5}]
    by_phase = collection.plot("loss", by="phase")
    assert by_phase.name == "loss-by-phase.png"
    assert [s["label"] for s in series_of(by_phase)] == [
        "#1 lr0.1 phase=train", "#1 lr0.1 phase=eval", "#2 lr0.3 phase=train", "#2 lr0.3 phase=eval",
    ]


def test_nothing_to_plot_is_a_clear_error(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        run.log(note="only text")
    with pytest.raises(rk.QueryError, match="nothing to plot"):
        run.plot("note")
    with pytest.raises(rk.QueryError, match="key name"):
        run.plot([])


def test_a_live_run_plots_what_it_logged_so_far(collection: rk.Collection) -> None:
    run = fast_run(collection)
    for step in range(7):
        run.log(loss=1 / (step + 1), step=step)
    assert series_of(run.plot("loss")) == [{"label": "loss", "points": 7}]  # no flush() needed first
    run.finish()
