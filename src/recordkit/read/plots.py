"""Plots for looking rather than reading: a key against step, one line per series, saved as a PNG.

matplotlib is optional (``pip install 'recordkit[plot]'``) and imported only here. Figures are drawn
with the Agg canvas directly, never through pyplot, so no global state or GUI backend is touched
(safe in a notebook, a thread or a headless job).

Each PNG carries its series in its text metadata (``recordkit.series``: JSON with each line's label
and number of points), so a test or a script can tell what a plot shows without looking at it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recordkit._deps import require
from recordkit._exceptions import QueryError

if TYPE_CHECKING:
    from recordkit._store import Collection
    from recordkit.read.records import Record
    from recordkit.runs.run import Run

Series = tuple[str, list[float], list[float]]


def _numeric(value: Any) -> bool:
    return type(value) in (int, float, bool)


def save_plot(series: Sequence[Series], path: Path, *, title: str, ylabel: str) -> Path:
    """Draw ``(label, steps, values)`` lines against step and save a PNG (temp file + rename); return its
    absolute path."""
    path = Path(os.path.abspath(path))
    FigureCanvasAgg = require("matplotlib.backends.backend_agg", "plots need matplotlib").FigureCanvasAgg
    Figure = require("matplotlib.figure", "plots need matplotlib").Figure
    if not series:
        raise QueryError(f"nothing to plot for {title!r}: no record has a numeric value for it")
    figure = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for label, steps, values in series:
        axes.plot(steps, values, label=label, marker="." if len(steps) < 50 else None, linewidth=1.5)
    axes.set_xlabel("step")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    if len(series) > 1 or series[0][0] != ylabel:
        axes.legend(loc="best", fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    described = json.dumps([{"label": label, "points": len(steps)} for label, steps, _ in series])
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        figure.savefig(tmp, format="png", metadata={"Title": title, "recordkit.series": described})
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path


def _group(records: Iterable[Record], key: str, label: Any) -> list[tuple[Any, list[float], list[float]]]:
    """Series of ``key``'s own numeric values, one per distinct ``label(record)``, in first-seen order."""
    lines: dict[Any, tuple[list[float], list[float]]] = {}
    for record in records:
        value = record.own(key)
        if not _numeric(value):
            continue
        steps, values = lines.setdefault(label(record), ([], []))
        steps.append(record.step)
        values.append(float(value))
    return [(name, steps, values) for name, (steps, values) in lines.items()]


def _by_label(by: str | None) -> Any:
    if by is None:
        return lambda record: ""
    return lambda record: f"{by}={record[by]}"


def plot_run(run: Run, keys: list[str], *, by: str | None, path: str | os.PathLike[str] | None) -> Path:
    from recordkit.sinks.base import file_stem

    if not keys or not all(isinstance(k, str) and k for k in keys):
        raise QueryError(f"plot() takes one or more key names, not {keys!r}")
    run._store.flush()  # a live run's latest records are plotted too
    series: list[Series] = []
    by_label = _by_label(by)
    for key in keys:
        if by is None:  # one line per series: phase=train/loss and phase=eval/loss never join into one
            series.extend(_numeric_series(run, key))
            continue
        for label, steps, values in _group(run.records.having(key), key, by_label):
            name = " ".join(part for part in (key if len(keys) > 1 or not label else "", label) if part)
            series.append((name or key, steps, values))
    stem = "-".join(keys) if by is None else f"{'-'.join(keys)}-by-{by}"  # with --by: another file
    target = Path(path) if path is not None else run.folder / "plots" / f"{file_stem(stem)}.png"
    title = f"{run.collection.name} #{run.number}" + (f" {run.name}" if run.name else "")
    return save_plot(series, target, title=title, ylabel=keys[0] if len(keys) == 1 else "value")


def _numeric_series(run: Run, key: str) -> list[Series]:
    """``(label, steps, values)`` of each series of ``key`` in ``run`` with numeric values, labelled by scope."""
    out: list[Series] = []
    for found in run.series(key):
        points = [(step, float(v)) for step, v in zip(found.steps, found.values, strict=True) if _numeric(v)]
        if points:
            out.append((found.label, [p[0] for p in points], [p[1] for p in points]))
    return out


def plot_collection(
    col: Collection, key: str, *, by: str | None, path: str | os.PathLike[str] | None, where: Mapping[str, Any]
) -> Path:
    from recordkit.sinks.base import file_stem

    if not isinstance(key, str) or not key:
        raise QueryError(f"plot() takes a key name, not {key!r}")
    col.store.flush()
    records = col.records.where(**where).having(key) if where else col.records.having(key)
    runs = {run.id: run for run in col.runs()}
    by_label = _by_label(by)

    def label_of_run(run: Run) -> str:
        name = f"#{run.number}" + (f" {run.name}" if run.name else "")
        return name + (f" (attempt {run.error_number})" if run.error_number else "")

    def label(record: Record) -> tuple[str, str]:
        run = runs.get(record["run_id"])
        if run is None:
            return f"#{record['experiment_number']}", by_label(record)
        return label_of_run(run), by_label(record)

    if by is None and not where:  # each run's series apart (a run's train and eval loss are two lines)
        grouped = [
            ((label_of_run(run), "" if name == key else name), steps, values)
            for run in runs.values() for name, steps, values in _numeric_series(run, key)
        ]
    else:
        grouped = _group(records, key, label)
    one_run = by is not None and len({name for (name, _), _, _ in grouped}) == 1
    series: list[Series] = [
        (extra if one_run else f"{name} {extra}".strip(), steps, values) for (name, extra), steps, values in grouped
    ]
    if path is None:
        if col.store.path is None:
            raise QueryError("this store has no folder: give plot() a path")
        stem = file_stem(key if by is None else f"{key}-by-{by}")
        target = col.store.path / col.name / "plots" / f"{stem}.png"
    else:
        target = Path(path)
    return save_plot(series, target, title=f"{col.name}: {key}", ylabel=key)
