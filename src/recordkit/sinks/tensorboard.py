"""The TensorBoard mirror: numeric values as scalars, images and histograms, in one event file per run."""

from __future__ import annotations

import collections
import os
from collections.abc import Sequence
from typing import Any

from recordkit.sinks.base import Mirror, MirrorRecord


def _is_number(value: Any) -> bool:
    return type(value) in (int, float, bool)


def _media_values(summary_pb2: Any, tag: str, references: list[Any]) -> list[Any]:
    """Summary values for media references: ``tag`` for one, ``tag/<index>`` for each of several."""
    found = [
        _media_value(summary_pb2, tag if len(references) == 1 else f"{tag}/{i}", reference)
        for i, reference in enumerate(references)
    ]
    return [value for value in found if value is not None]


def _media_value(summary_pb2: Any, tag: str, reference: dict[str, Any]) -> Any:
    """A TensorBoard image or histogram for a media reference fresh from the writer's media step; else None."""
    kind = reference.get("_media")
    if kind == "image" and getattr(reference, "payload", None):
        image = summary_pb2.Summary.Image(
            height=reference["height"], width=reference["width"], colorspace=reference["channels"],
            encoded_image_string=reference.payload,  # type: ignore[attr-defined]
        )
        return summary_pb2.Summary.Value(tag=tag, image=image)
    if kind == "histogram" and reference.get("count"):
        histogram = summary_pb2.HistogramProto(
            min=reference["min"], max=reference["max"], num=reference["count"], sum=reference["sum"],
            sum_squares=reference["sum_squares"], bucket_limit=reference["edges"][1:], bucket=reference["counts"],
        )
        return summary_pb2.Summary.Value(tag=tag, histo=histogram)
    return None


class TensorBoard(Mirror):
    """Numeric values as TensorBoard scalars, tagged ``<label>/<key>`` (just ``<key>`` in the run's root);
    ``rk.Image`` values as images and ``rk.Histogram`` values as histograms under the same tags.

    One event file per run, written with TensorBoard's own ``EventFileWriter`` (``pip install
    'recordkit[tensorboard]'``), in ``<directory>/<collection>/<run id>``, or without a directory in
    ``<run folder>/tensorboard``; ``tensorboard --logdir <store>`` shows every run. Booleans are 0/1;
    strings, lists and None are left out.

    Examples
    --------
    >>> store = rk.open("records", mirrors=[rk.TensorBoard()])      # doctest: +SKIP
    >>> store = rk.open("records", mirrors=["tensorboard", "csv"])  # doctest: +SKIP
    """

    name = "tensorboard"
    #: Event files kept open at once; the least recently written is closed beyond this.
    MAX_OPEN = 16

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        super().__init__(directory)
        self._writers: collections.OrderedDict[str, Any] = collections.OrderedDict()

    def _writer(self, record: MirrorRecord) -> Any:
        found = self._writers.get(record.run_id)
        if found is not None:
            self._writers.move_to_end(record.run_id)
            return found
        from recordkit._deps import require

        EventFileWriter = require(
            "tensorboard.summary.writer.event_file_writer", "the TensorBoard mirror needs tensorboard"
        ).EventFileWriter
        folder = self.folder(record, "tensorboard")
        folder.mkdir(parents=True, exist_ok=True)
        writer = self._writers[record.run_id] = EventFileWriter(str(folder), max_queue_size=1000, flush_secs=5)
        while len(self._writers) > self.MAX_OPEN:
            self._writers.popitem(last=False)[1].close()
        return writer

    def write(self, records: Sequence[MirrorRecord]) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2

        touched = {}
        for record in records:
            prefix = f"{record.label}/" if record.label else ""
            values = []
            for key, value in record.values.items():
                if _is_number(value):
                    values.append(summary_pb2.Summary.Value(tag=prefix + key, simple_value=float(value)))
                elif isinstance(value, dict) and type(value) is not dict:  # a media reference (media.step)
                    values.extend(_media_values(summary_pb2, prefix + key, [value]))
                elif type(value) is list and value and all(isinstance(v, dict) and type(v) is not dict for v in value):
                    values.extend(_media_values(summary_pb2, prefix + key, value))  # several: <tag>/<index>
            if not values:
                continue
            writer = self._writer(record)
            touched[record.run_id] = writer
            event = event_pb2.Event(wall_time=record.time, step=record.step, summary=summary_pb2.Summary(value=values))
            writer.add_event(event)
        for writer in touched.values():
            writer.flush()

    def end_run(self, run_id: str) -> None:
        writer = self._writers.pop(run_id, None)
        if writer is not None:
            writer.close()

    def close(self) -> None:
        while self._writers:
            self._writers.popitem()[1].close()
