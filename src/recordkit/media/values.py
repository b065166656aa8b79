"""Media values: ``rk.Image``, ``rk.Histogram`` and ``rk.Table``, logged like any value.

Each class does the cheap part in the caller's thread (checks, a copy of the data so the caller may
reuse its buffer; a tensor is only detached and cloned, which never waits for the device) and the
costly part in the writer thread (:meth:`encode`: PNG, bin counts, Parquet). What a record stores is
a *reference*: a small dict with ``"_media"`` naming the kind (``Records`` reads these dicts);
``run.history(key)`` turns references back into these objects (:func:`from_reference`).
"""

from __future__ import annotations

import abc
import dataclasses
import io
import itertools
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recordkit._deps import require

#: The key that marks a stored reference, and what ``_values`` looks for on a class to accept it as a value.
MEDIA_KEY = "_media"

# Set once any media value exists in this process: until then the writer never scans its batches for one.
created = [False]


@dataclasses.dataclass
class Encoded:
    """What the writer stores for one media value: the reference, and the bytes of its blob (if any)."""

    reference: dict[str, Any]
    payload: bytes | None = None
    suffix: str | None = None


def _is_tensor(value: Any) -> bool:
    return any(c.__name__ == "Tensor" and c.__module__ == "torch" for c in type(value).__mro__)


def _are_edges(bins: Any) -> bool:
    """True for a sequence of at least two increasing finite numbers."""
    try:
        edges = [float(edge) for edge in bins]
    except (TypeError, ValueError):
        return False
    return len(edges) >= 2 and all(math.isfinite(e) for e in edges) and all(a < b for a, b in itertools.pairwise(edges))


def _is_pil(value: Any) -> bool:
    return any(c.__module__.startswith("PIL.") and c.__name__ == "Image" for c in type(value).__mro__)


class Media(abc.ABC):
    """Base of the media values (``_values.check_record`` accepts instances of its subclasses)."""

    _recordkit_media = True
    kind = "media"

    @abc.abstractmethod
    def encode(self) -> Encoded:
        """The value as the writer stores it: a blob and its reference."""


class Image(Media):
    """An image to log: a numpy array or tensor, a PIL image, or the path of an image file.

    Arrays are (height, width), (height, width, channels) or, for 1, 3 or 4 channels first,
    (channels, height, width), as torch lays them out. uint8 values are kept as they are; booleans become
    0/255; floats must lie in [0, 1] and are scaled to 0–255. Stored as PNG (Pillow when installed,
    else recordkit's own writer), once per distinct content. Read back, ``to_numpy()`` gives the pixels
    as a (height, width, channels) uint8 array and ``to_pil()`` a PIL image.

    Examples
    --------
    >>> run.log({"sample": rk.Image(array, caption="epoch 3")})        # doctest: +SKIP
    >>> steps, images = run.history("sample"); images[-1].to_numpy()   # doctest: +SKIP
    """

    kind = "image"

    def __init__(self, data: Any, caption: str | None = None) -> None:
        if caption is not None and not isinstance(caption, str):
            raise TypeError(f"an image caption is a string, not {type(caption).__name__} {caption!r:.40}")
        self.caption = caption
        self._array: Any = None  # a (height, width, channels) uint8 array, once known
        self._source: Any = None  # a tensor, PIL image or non-PNG file content, converted in the writer
        self._png: bytes | None = None
        self._path: Path | None = None  # a stored blob, read on first use
        self.sha256: str | None = None
        if isinstance(data, (str, os.PathLike)):
            self._from_file(Path(os.fspath(data)))
        elif _is_pil(data):
            self._source = data.copy()  # PIL images are mutable; the copy is what gets logged
        elif _is_tensor(data):
            _image_shape(tuple(data.shape), str(data.dtype))
            self._source = data.detach().clone()  # no device sync; later in-place updates do not leak in
        elif hasattr(data, "__array__") or isinstance(data, (list, tuple)):
            self._array = _as_pixels(data)
        else:
            raise TypeError(
                f"rk.Image takes a numpy array, a tensor, a PIL image or a path, not {type(data).__name__} {data!r:.60}"
            )
        created[0] = True

    def _from_file(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"rk.Image: no image file at {str(path)!r}")
        content = path.read_bytes()  # now: the file may change or go once log() returns
        from recordkit.media import png

        if content.startswith(png.SIGNATURE):
            png.info(content)
            self._png = content
        else:
            require("PIL", f"rk.Image of {path.suffix or 'a non-PNG'} files needs Pillow to convert them to PNG")
            self._source = content

    @classmethod
    def _stored(cls, reference: dict[str, Any], path: Path | None) -> Image:
        image = cls.__new__(cls)
        image.caption = reference.get("caption")
        image._array = image._source = image._png = None
        image._path = path
        image.sha256 = reference.get("sha256")
        return image

    # --- writer thread ---------------------------------------------------------------------------
    def png_bytes(self) -> bytes:
        """The image as PNG bytes (encoded on first use)."""
        if self._png is None:
            if self._path is not None:
                self._png = self._path.read_bytes()
            else:
                self._png = _encode_png(self.to_numpy())
        return self._png

    def encode(self) -> Encoded:
        data = self.png_bytes()
        from recordkit.media import png

        width, height, channels = png.info(data)
        reference: dict[str, Any] = {MEDIA_KEY: "image", "width": width, "height": height, "channels": channels}
        if self.caption is not None:
            reference["caption"] = self.caption
        return Encoded(reference, data, "png")

    # --- reading ----------------------------------------------------------------------------------
    def to_numpy(self) -> Any:
        """The pixels: a (height, width, channels) uint8 array."""
        if self._array is None:
            source = self._source
            if _is_tensor(source):
                self._array = _as_pixels(source.cpu().numpy())
            elif _is_pil(source):
                self._array = _pil_pixels(source)
            elif isinstance(source, bytes):
                pil = require("PIL.Image", "reading this image needs Pillow")
                self._array = _pil_pixels(pil.open(io.BytesIO(source)))
            else:
                self._array = _decode_png(self.png_bytes())
        return self._array

    def to_pil(self) -> Any:
        """The image as a PIL image (needs Pillow)."""
        pil = require("PIL.Image", "to_pil() needs Pillow")
        pixels = self.to_numpy()
        return pil.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)

    @property
    def path(self) -> Path | None:
        """Where a stored image's PNG is (None for one not yet logged)."""
        return self._path

    def __repr__(self) -> str:
        caption = f" {self.caption!r}" if self.caption else ""
        where = f" {self.sha256[:12]}" if self.sha256 else ""
        return f"<rk.Image{caption}{where}>"


class Histogram(Media):
    """A histogram of many values (weights, gradients, activations): bin edges and counts.

    ``bins`` is a number of equal bins between the smallest and largest value, or the bin edges.
    NaN and infinite values are left out of the bins and counted in ``nonfinite``. The counting
    happens in the writer thread; a tensor is detached and cloned, never waited on.

    Examples
    --------
    >>> run.log({"weights": rk.Histogram(model.fc.weight, bins=32)})   # doctest: +SKIP
    >>> steps, hists = run.history("weights"); hists[-1].counts          # doctest: +SKIP
    """

    kind = "histogram"

    def __init__(self, values: Any, bins: int | Sequence[float] = 64) -> None:
        if isinstance(bins, bool) or not ((isinstance(bins, int) and bins >= 1) or _are_edges(bins)):
            raise ValueError(f"bins is a number of bins >= 1 or increasing bin edges, not {bins!r:.60}")
        self.bins = bins if isinstance(bins, int) else [float(edge) for edge in bins]
        if _is_tensor(values):
            self._values: Any = values.detach().clone()
        else:
            import numpy as np

            try:
                self._values = np.array(values, dtype=np.float64).ravel()  # a copy
            except (TypeError, ValueError):
                raise TypeError(f"rk.Histogram takes numbers (an array, tensor or list), not {values!r:.60}") from None
        self.edges: list[float] = []
        self.counts: list[int] = []
        self.nonfinite = 0
        created[0] = True

    def encode(self) -> Encoded:
        import numpy as np

        values = self._values
        if _is_tensor(values):
            values = values.double().cpu().numpy().ravel()
        finite = values[np.isfinite(values)]
        bins = self.bins
        counts, edges = np.histogram(finite, bins=bins if finite.size or not isinstance(bins, int) else 1)
        self.edges, self.counts = edges.tolist(), counts.tolist()
        self.nonfinite = int(values.size - finite.size)
        reference = {
            MEDIA_KEY: "histogram", "edges": self.edges, "counts": self.counts, "count": int(finite.size),
            "min": float(finite.min()) if finite.size else None, "max": float(finite.max()) if finite.size else None,
            "sum": float(finite.sum()), "sum_squares": float(np.dot(finite, finite)), "nonfinite": self.nonfinite,
        }
        return Encoded(reference)

    @classmethod
    def _stored(cls, reference: dict[str, Any]) -> Histogram:
        histogram = cls.__new__(cls)
        histogram.edges = list(reference.get("edges", []))
        histogram.counts = list(reference.get("counts", []))
        histogram.bins = len(histogram.counts)
        histogram.nonfinite = int(reference.get("nonfinite") or 0)
        histogram._values = None
        return histogram

    def to_numpy(self) -> tuple[Any, Any]:
        """``(counts, edges)`` as numpy arrays, as ``numpy.histogram`` returns them."""
        import numpy as np

        return np.array(self.counts, dtype=np.int64), np.array(self.edges, dtype=np.float64)

    def __repr__(self) -> str:
        return f"<rk.Histogram {len(self.counts) or self.bins} bins>"


class Table(Media):
    """A table of rows to log, stored as a Parquet attachment (needs pyarrow).

    ``rows`` is a sequence of rows (each a sequence of values, in the order of ``columns``), or a
    pandas DataFrame or pyarrow Table (then ``columns`` may pick and order columns). The rows are copied
    into Arrow when the Table is made, so they may change afterwards.

    Examples
    --------
    >>> run.log({"predictions": rk.Table([[0, "cat", 0.9]], columns=["id", "label", "p"])})   # doctest: +SKIP
    >>> steps, tables = run.history("predictions"); tables[-1].to_pandas()                    # doctest: +SKIP
    """

    kind = "table"

    def __init__(self, rows: Any, columns: Sequence[str] | None = None) -> None:
        pa = require("pyarrow", "rk.Table needs pyarrow")
        if columns is not None and (
            isinstance(columns, str) or not all(isinstance(c, str) and c for c in columns)
            or len(set(columns)) != len(columns)
        ):
            raise ValueError(f"columns are distinct non-empty names, not {columns!r:.80}")
        if isinstance(rows, pa.Table):
            table = rows if columns is None else rows.select(list(columns))
        elif type(rows).__name__ == "DataFrame" and hasattr(rows, "to_dict"):
            table = pa.Table.from_pandas(rows if columns is None else rows[list(columns)], preserve_index=False)
        else:
            if columns is None:
                raise ValueError("rk.Table(rows, columns) needs the column names for a list of rows")
            rows = [list(row) for row in rows]
            for number, row in enumerate(rows):
                if len(row) != len(columns):
                    raise ValueError(f"row {number} has {len(row)} values for {len(columns)} columns: {row!r:.80}")
            try:
                table = pa.table({name: [row[i] for row in rows] for i, name in enumerate(columns)})
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise TypeError(f"rk.Table: a column mixes values Arrow cannot hold together ({exc})") from None
        self._table: Any = table
        self._path: Path | None = None
        self.sha256: str | None = None
        created[0] = True

    def encode(self) -> Encoded:
        pq = require("pyarrow.parquet", "rk.Table needs pyarrow")
        buffer = io.BytesIO()
        pq.write_table(self._table, buffer, compression="zstd")
        reference = {MEDIA_KEY: "table", "rows": self._table.num_rows, "columns": self._table.column_names}
        return Encoded(reference, buffer.getvalue(), "parquet")

    @classmethod
    def _stored(cls, reference: dict[str, Any], path: Path | None) -> Table:
        table = cls.__new__(cls)
        table._table = None
        table._path = path
        table.sha256 = reference.get("sha256")
        return table

    @property
    def columns(self) -> list[str]:
        return list(self.to_arrow().column_names)

    @property
    def rows(self) -> list[list[Any]]:
        """The rows as lists of plain values."""
        arrow = self.to_arrow()
        return [list(row.values()) for row in arrow.to_pylist()]

    def to_arrow(self) -> Any:
        if self._table is None:
            if self._path is None:
                raise FileNotFoundError("this table's Parquet file is not in the store")
            self._table = require("pyarrow.parquet", "reading a table needs pyarrow").read_table(self._path)
        return self._table

    def to_pandas(self) -> Any:
        return self.to_arrow().to_pandas()

    def __repr__(self) -> str:
        return f"<rk.Table {len(self.columns)} columns>" if self._table is not None else "<rk.Table>"


def holds_references(value: Any) -> bool:
    """A stored media reference (``{"_media": kind, ...}``) or a non-empty list of them."""
    if type(value) is list:
        return bool(value) and all(type(item) is dict and MEDIA_KEY in item for item in value)
    return type(value) is dict and MEDIA_KEY in value


def from_stored(values: list[Any], root: Path | None) -> list[Any]:
    """Values read from records with every reference (or list of them) turned into its media object."""
    return [
        ([from_reference(item, root) for item in value] if type(value) is list else from_reference(value, root))
        if holds_references(value) else value
        for value in values
    ]


def from_reference(reference: dict[str, Any], root: Path | None) -> Any:
    """The media object a stored reference stands for (a reference of an unknown kind is returned as is)."""
    kind = reference.get(MEDIA_KEY)
    if kind == "histogram":
        return Histogram._stored(reference)
    sha = reference.get("sha256")
    path = None
    if root is not None and isinstance(sha, str):
        from recordkit.runs.files import blob_path

        path = blob_path(root, sha)
    if kind == "image":
        return Image._stored(reference, path)
    if kind == "table":
        return Table._stored(reference, path)
    return reference


# --- pixels ------------------------------------------------------------------------------------------


def _image_shape(shape: tuple[int, ...], dtype: str) -> tuple[int, ...]:
    """The (height, width, channels) layout of an array's shape; ValueError if it is not an image."""
    if len(shape) == 3 and shape[-1] not in (1, 2, 3, 4) and shape[0] in (1, 3, 4):
        shape = (shape[1], shape[2], shape[0])  # channels first (torch): moved last
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3 or shape[2] not in (1, 2, 3, 4) or 0 in shape:
        raise ValueError(
            f"an image array is (height, width), (height, width, 1-4 channels) or (1|3|4, height, width), "
            f"not of shape {shape!r} ({dtype})"
        )
    return shape


def _as_pixels(data: Any) -> Any:
    """A copy of ``data`` as a (height, width, channels) uint8 array, checked."""
    import numpy as np

    array = np.array(data)  # a copy
    layout = _image_shape(array.shape, str(array.dtype))
    if array.ndim == 3 and array.shape != layout:
        array = np.moveaxis(array, 0, -1)
    array = array.reshape(layout)
    kind = array.dtype.kind
    if kind == "b":
        return array.astype(np.uint8) * 255
    if kind == "f":
        low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
        if not (math.isfinite(low) and math.isfinite(high) and low >= 0.0 and high <= 1.0):
            raise ValueError(
                f"a float image must hold values in [0, 1] (found {low:g} to {high:g}); scale it, or pass uint8 0-255"
            )
        return np.rint(array * 255).astype(np.uint8)
    if kind in "iu":
        if array.dtype != np.uint8 and array.size and (array.min() < 0 or array.max() > 255):
            raise ValueError(f"an integer image must hold values 0-255 (found {array.min()} to {array.max()})")
        return np.ascontiguousarray(array, dtype=np.uint8)
    raise TypeError(f"an image array holds numbers or booleans, not {array.dtype}")


def _pil_pixels(image: Any) -> Any:
    import numpy as np

    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    array = np.asarray(image, dtype=np.uint8)
    return array[:, :, None] if array.ndim == 2 else array


def _encode_png(pixels: Any) -> bytes:
    """PNG bytes: Pillow when installed, recordkit's own writer otherwise."""
    try:
        from PIL import Image as PILImage
    except ImportError:
        from recordkit.media import png

        return png.encode(pixels)
    buffer = io.BytesIO()
    PILImage.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _decode_png(data: bytes) -> Any:
    try:
        from PIL import Image as PILImage
    except ImportError:
        from recordkit.media import png

        return png.decode(data)
    return _pil_pixels(PILImage.open(io.BytesIO(data)))
