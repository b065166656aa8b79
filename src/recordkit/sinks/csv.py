"""The CSV mirror: one CSV file per run and label, whose header only grows."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from recordkit.sinks.base import Mirror, MirrorRecord, file_stem


class CSV(Mirror):
    """One CSV file per run and label: ``<label>.csv`` with columns ``step, time, <keys>``.

    Files live in ``<directory>/<collection>/<run id>``, or without a directory in ``<run folder>/csv``.
    The root scope's records go to ``run.csv``. Values are written as ``recordkit records --format csv``
    writes them: floats exactly (``0.1``, ``nan``), booleans ``true``/``false``, None empty, lists and
    dicts as JSON.

    **A new key later** never corrupts a file: the header is widened and the file rewritten once, to a
    temporary file renamed over the old one (earlier rows get an empty cell for the new column), so a
    reader always sees one complete, consistent file with one header.
    """

    name = "csv"

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        super().__init__(directory)
        # (run id, label) -> (path, header)
        self._files: dict[tuple[str, str], tuple[Path, list[str]]] = {}
        self._names: dict[tuple[str, str], str] = {}  # (folder, stem) -> label that owns it

    def _file(self, record: MirrorRecord) -> tuple[Path, list[str]]:
        import csv

        key = (record.run_id, record.label)
        found = self._files.get(key)
        if found is not None:
            return found
        folder = self.folder(record, "csv")
        stem = file_stem(record.label)
        n = 1
        name = stem
        while self._names.setdefault((str(folder), name), record.label) != record.label:
            n += 1  # two labels that read the same as file names
            name = f"{stem}-{n}"
        path = folder / f"{name}.csv"
        header: list[str] = []
        if path.exists():  # a resumed run, or a store opened again: continue the file
            with path.open(newline="", encoding="utf-8") as f:
                header = next(csv.reader(f), [])
        found = self._files[key] = (path, header)
        return found

    def write(self, records: Sequence[MirrorRecord]) -> None:
        import csv
        import io

        from recordkit._formats import csv_cell

        grouped: dict[tuple[str, str], list[MirrorRecord]] = {}
        for record in records:
            grouped.setdefault((record.run_id, record.label), []).append(record)
        for group in grouped.values():
            path, header = self._file(group[0])
            wanted = list(header) or ["step", "time"]
            for record in group:
                for key in record.values:
                    if key not in wanted:
                        wanted.append(key)
            if header and wanted != header:
                _widen(path, header, wanted)
            path.parent.mkdir(parents=True, exist_ok=True)
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            if not header:
                writer.writerow(wanted)
            for record in group:
                row = {"step": record.step, "time": record.time, **record.values}
                writer.writerow([csv_cell(column, row.get(column)) for column in wanted])
            with path.open("a", newline="", encoding="utf-8") as f:
                f.write(buffer.getvalue())
            header[:] = wanted

    def end_run(self, run_id: str) -> None:
        for key in [k for k in self._files if k[0] == run_id]:
            del self._files[key]


def _widen(path: Path, old: list[str], new: list[str]) -> None:
    """Rewrite a CSV file with a wider header: temp file + rename, so readers never see a torn file."""
    import csv

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with path.open(newline="", encoding="utf-8") as src, tmp.open("w", newline="", encoding="utf-8") as dst:
        reader = csv.reader(src)
        next(reader, None)
        writer = csv.writer(dst, lineterminator="\n")
        writer.writerow(new)
        pad = [""] * (len(new) - len(old))
        for row in reader:
            writer.writerow(row + pad)
    os.replace(tmp, path)
