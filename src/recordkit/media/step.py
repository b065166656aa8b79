"""The writer thread's media step: media values in, blobs on disk and references in the records out.

The store installs a :class:`MediaStep` on its channel; the writer calls it on each batch before the
backend (and the mirrors) see it. For every record holding an ``rk.Image``, ``rk.Histogram`` or
``rk.Table`` it encodes the value (PNG, bin counts, Parquet), stores the bytes as a content-addressed
blob (``blobs/<sha[:2]>/<sha256>``: the same image logged twice is stored once), puts a file row for
the blob before the record (so ``gc`` sees the blob is referenced) and replaces the value with its
reference. Until the process makes a media value, the step does nothing at all.

A record whose media cannot be stored is dropped and reported like any bad value (a warning, then
the error at ``flush()``); the rest of the batch is stored.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recordkit import _values as V
from recordkit._exceptions import StoreError
from recordkit.backends.base import AddFile, WriteItem
from recordkit.media.values import Media, created

_UNSAFE = re.compile(r"[^A-Za-z0-9_.=,+-]")


class MediaRef(dict):  # type: ignore[type-arg]
    """A stored reference (a plain dict to the backend) that also carries its blob's bytes for the mirrors."""

    __slots__ = ("payload",)

    def __init__(self, reference: dict[str, Any], payload: bytes | None) -> None:
        super().__init__(reference)
        self.payload = payload


def file_name(key: str, step: int, seq: int, suffix: str, index: int | None = None) -> str:
    """The file row's name: ``media/<key parts>/<step>-<seq>[-<index>].<suffix>``, each part a safe name."""
    parts = [_UNSAFE.sub("_", part).lstrip(".")[:100] or "_" for part in key.split("/")]
    number = "" if index is None else f"-{index}"
    return "/".join(["media", *parts, f"{step}-{seq}{number}.{suffix}"])


class MediaStep:
    """Called by the writer with each batch: returns the batch to write and the errors of dropped records."""

    def __init__(self, root: Path | None) -> None:
        self.root = root

    def __call__(self, items: list[WriteItem]) -> tuple[list[WriteItem], list[Exception]]:
        if not created[0]:
            return items, []
        out: list[WriteItem] = []
        errors: list[Exception] = []
        for item in items:
            if type(item) is tuple and type(item[5]) is V.LazyValues and _has_media(item[5]):
                try:
                    out.extend(self._store(item))
                except Exception as exc:
                    errors.append(exc)
            else:
                out.append(item)
        return out, errors

    def _store(self, item: tuple[Any, ...]) -> Sequence[WriteItem]:
        run_id, scope_id, seq, step, when, values = item
        files: list[WriteItem] = []
        stored: dict[str, Any] = {}
        lazy = False
        where = (run_id, step, seq, when)
        for key, value in values.items():
            if isinstance(value, Media):
                stored[key] = self._one(value, key, where, None, files)
            elif V.is_media(value):  # a list of them
                stored[key] = [self._one(item, key, where, i, files) for i, item in enumerate(value)]
            else:
                stored[key] = value
                lazy = lazy or V.needs_materialize(value)
        record = V.LazyValues(stored) if lazy else stored
        return [*files, (run_id, scope_id, seq, step, when, record)]

    def _one(
        self, value: Media, key: str, where: tuple[str, int, int, float], index: int | None, files: list[WriteItem]
    ) -> MediaRef:
        """Encode one media value, store its blob (if it has one) and queue its file row; return its reference."""
        run_id, step, seq, when = where
        encoded = value.encode()
        reference = encoded.reference
        if encoded.payload is not None:
            if self.root is None:
                raise StoreError(
                    f"cannot store {value.kind} {key!r}: the store keeps no files (open it with a files folder)"
                )
            from recordkit.runs.files import ATTACHMENT, store_blob

            sha, size = store_blob(self.root, io.BytesIO(encoded.payload))
            name = file_name(key, step, seq, encoded.suffix or "bin", index)
            reference.update(sha256=sha, size=size, file=name)
            files.append(AddFile(run_id, name, ATTACHMENT, when, step, size, sha, None, None,
                                 {"media": value.kind, "key": key}))
        return MediaRef(reference, encoded.payload)


def _has_media(values: dict[str, Any]) -> bool:
    return any(V.is_media(value) for value in values.values())
