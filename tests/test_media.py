"""Media values: images as PNG blobs, histograms as edges and counts, tables as Parquet; read back, mirrored."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import fast_run

import recordkit as rk
from recordkit.media import png

pytestmark = pytest.mark.backends("sqlite", "postgres")

RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, (12, 17, 3), dtype=np.uint8)


def _blobs(store: rk.Store) -> list[Path]:
    assert store.path is not None
    return [p for p in (store.path / "blobs").rglob("*") if p.is_file() and p.parent.name != "tmp"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(RGB, RGB, id="rgb-uint8"),
        pytest.param(RGB[:, :, 0], RGB[:, :, :1], id="grey-2d"),
        pytest.param(RNG.integers(0, 256, (5, 6, 4), dtype=np.uint8), None, id="rgba"),
        pytest.param(RNG.integers(0, 256, (5, 6, 2), dtype=np.uint8), None, id="grey-alpha"),
        pytest.param(np.moveaxis(RGB, -1, 0).copy(), RGB, id="channels-first"),
        pytest.param(RGB / 255.0, RGB, id="float-0-1"),
        pytest.param(RGB > 127, (RGB > 127).astype(np.uint8) * 255, id="bool"),
        pytest.param(RGB.astype(np.int64), RGB, id="int64-0-255"),
    ],
)
def test_an_image_round_trip_gives_the_same_pixels(
    collection: rk.Collection, given: np.ndarray, expected: np.ndarray | None
) -> None:
    expected = (given if expected is None else expected).copy()
    buffer = given.copy()
    with fast_run(collection) as run:
        run.log({"sample": rk.Image(buffer, caption="first")})
        buffer[...] = 0  # the caller reuses its buffer at once: what was logged is kept
    steps, images = run.history("sample")
    assert steps == [0]
    (image,) = images
    assert isinstance(image, rk.Image) and image.caption == "first"
    pixels = image.to_numpy()
    assert pixels.dtype == np.uint8 and pixels.shape == expected.shape
    assert np.array_equal(pixels, expected)
    assert np.array_equal(np.asarray(image.to_pil()).reshape(expected.shape), expected)


def test_records_hold_references_and_the_png_is_a_content_addressed_attachment(
    collection: rk.Collection,
) -> None:
    with fast_run(collection) as run:
        run.log({"sample": rk.Image(RGB), "loss": 0.5})
        run.next_step()
        run.log({"sample": rk.Image(RGB.copy())})  # the same pixels again
        run.log({"sample": rk.Image(RGB[::-1].copy())}, step=2)
    references = [r["sample"] for r in run.records.having("sample")]
    assert [type(r) for r in references] == [dict, dict, dict]
    first = references[0]
    assert first["_media"] == "image"
    assert (first["width"], first["height"], first["channels"]) == (17, 12, 3)
    assert references[1]["sha256"] == first["sha256"] != references[2]["sha256"]
    assert [r["step"] for r in run.records.having("sample")] == [0, 1, 2]
    assert len(_blobs(collection.store)) == 2  # stored once per distinct content
    files = [f for f in run.files if f.name.startswith("media/")]
    assert [f.name for f in files] == [first["file"], references[1]["file"], references[2]["file"]]
    assert files[0].path is not None and hashlib.sha256(files[0].read_bytes()).hexdigest() == first["sha256"]
    assert png.info(files[0].read_bytes()) == (17, 12, 3)
    assert not [p for p in collection.store.unreferenced_blobs() if "blobs" in p.parts]  # gc keeps them
    assert [r["loss"] for r in run.records.having("loss")] == [0.5]


def test_histograms_store_bin_edges_and_counts(collection: rk.Collection) -> None:
    values = RNG.normal(size=1000)
    with fast_run(collection) as run:
        run.log({"weights": rk.Histogram(values, bins=10)})
        run.log({"weights": rk.Histogram([0.5, 1.5, float("nan"), 2.5, float("inf")], bins=[0, 1, 2, 3])}, step=1)
    counts, edges = np.histogram(values, bins=10)
    (reference, explicit) = [r["weights"] for r in run.records.having("weights")]
    assert reference["_media"] == "histogram"
    assert reference["counts"] == counts.tolist()
    assert reference["edges"] == pytest.approx(edges.tolist())
    assert reference["count"] == 1000 and reference["min"] == pytest.approx(values.min())
    assert explicit["counts"] == [1, 1, 1] and explicit["edges"] == [0, 1, 2, 3] and explicit["nonfinite"] == 2
    _, hists = run.history("weights")
    assert isinstance(hists[0], rk.Histogram)
    got_counts, got_edges = hists[0].to_numpy()
    assert np.array_equal(got_counts, counts) and np.allclose(got_edges, edges)


def test_tables_are_parquet_attachments_read_back_as_tables(collection: rk.Collection) -> None:
    rows = [[1, "cat", 0.9], [2, "dog", 0.4]]
    with fast_run(collection) as run:
        run.log({"predictions": rk.Table(rows, columns=["id", "label", "p"])})
        rows[0][1] = "changed later"  # copied when the Table was made
    (reference,) = [r["predictions"] for r in run.records.having("predictions")]
    assert reference["_media"] == "table" and reference["rows"] == 2
    assert reference["columns"] == ["id", "label", "p"] and reference["file"].endswith(".parquet")
    _, (table,) = run.history("predictions")
    assert isinstance(table, rk.Table)
    assert table.rows == [[1, "cat", 0.9], [2, "dog", 0.4]]
    assert table.to_pandas()["label"].tolist() == ["cat", "dog"]
    import pyarrow.parquet as pq

    (info,) = [f for f in run.files if f.name == reference["file"]]
    assert info.path is not None and pq.read_table(info.path).column("p").to_pylist() == [0.9, 0.4]


def test_a_table_from_a_dataframe(collection: rk.Collection) -> None:
    import pandas as pd

    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    with fast_run(collection) as run:
        run.log(t=rk.Table(frame), picked=rk.Table(frame, columns=["b"]))
    assert run.history("t")[1][0].rows == [[1, "x"], [2, "y"]]
    assert run.history("picked")[1][0].columns == ["b"]


def test_images_from_a_png_file_a_jpeg_file_and_a_pil_image(collection: rk.Collection, tmp_path: Path) -> None:
    from PIL import Image as PILImage

    PILImage.fromarray(RGB).save(tmp_path / "a.png")
    PILImage.fromarray(RGB).save(tmp_path / "a.jpg", quality=95)
    palette = PILImage.fromarray(RGB).convert("P")
    jpeg_pixels = np.asarray(PILImage.open(tmp_path / "a.jpg").convert("RGB"))
    with fast_run(collection) as run:
        run.log(png_file=rk.Image(tmp_path / "a.png"), jpeg=rk.Image(str(tmp_path / "a.jpg")), pil=rk.Image(palette))
        (tmp_path / "a.png").unlink()  # read when the Image was made
    record = next(iter(run.records))
    file_bytes_hash = record["png_file"]["sha256"]
    assert np.array_equal(run.history("png_file")[1][0].to_numpy(), RGB)
    (stored,) = [f for f in run.files if f.sha256 == file_bytes_hash]
    assert png.info(stored.read_bytes()) == (17, 12, 3)
    jpeg = run.history("jpeg")[1][0].to_numpy()
    assert np.array_equal(jpeg, jpeg_pixels)  # decoded once, then kept losslessly as PNG
    assert np.array_equal(run.history("pil")[1][0].to_numpy(), np.asarray(palette.convert("RGB")))


def test_tensors_are_cloned_at_log_time(collection: rk.Collection) -> None:
    torch = pytest.importorskip("torch")
    weights = torch.arange(10, dtype=torch.float32)
    image = torch.zeros(3, 4, 5)
    with fast_run(collection) as run:
        run.log(w=rk.Histogram(weights, bins=2), img=rk.Image(image))
        weights.add_(100)  # an optimizer step in place, before the writer counted
        image.fill_(1.0)
    assert run.history("w")[1][0].counts == [5, 5]
    assert run.history("w")[1][0].edges == [0.0, 4.5, 9.0]
    assert run.history("img")[1][0].to_numpy().max() == 0


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        pytest.param(lambda: rk.Image(np.zeros((2, 3, 5))), ValueError, "an image array is", id="five-channels"),
        pytest.param(lambda: rk.Image(np.zeros(4)), ValueError, "an image array is", id="1d"),
        pytest.param(lambda: rk.Image(np.full((2, 2), 1.5)), ValueError, r"values in \[0, 1\]", id="float-range"),
        pytest.param(lambda: rk.Image(np.full((2, 2), 300)), ValueError, "values 0-255", id="int-range"),
        pytest.param(lambda: rk.Image(RGB, caption=3), TypeError, "caption is a string", id="caption"),
        pytest.param(lambda: rk.Image("no/such.png"), FileNotFoundError, "no image file", id="path"),
        pytest.param(lambda: rk.Image(object()), TypeError, "rk.Image takes", id="type"),
        pytest.param(lambda: rk.Histogram([1.0], bins=0), ValueError, "bins is a number", id="bins-zero"),
        pytest.param(lambda: rk.Histogram([1.0], bins=[2, 1]), ValueError, "bins is a number", id="bins-order"),
        pytest.param(lambda: rk.Histogram(["a"]), TypeError, "rk.Histogram takes numbers", id="text"),
        pytest.param(lambda: rk.Table([[1, 2]], columns=["a"]), ValueError, "row 0 has 2 values", id="row"),
        pytest.param(lambda: rk.Table([[1]]), ValueError, "needs the column names", id="columns"),
        pytest.param(lambda: rk.Table([[1]], columns=["a", "a"]), ValueError, "distinct", id="dup-columns"),
        pytest.param(lambda: rk.Table([[1], ["x"]], columns=["a"]), TypeError, "mixes values", id="mixed"),
    ],
)
def test_bad_media_raise_at_once_with_a_clear_message(make: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        make()  # type: ignore[operator]


def test_media_that_fails_in_the_writer_drops_only_its_record(collection: rk.Collection) -> None:
    torch = pytest.importorskip("torch")
    with fast_run(collection) as run:
        run.log(img=rk.Image(torch.full((2, 2), 7.0)))  # the range of a tensor is checked off the training thread
        run.log(loss=0.1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(rk.StorageError, match=r"values in \[0, 1\]"):
                run.flush()
    assert any("could not store media" in str(w.message) for w in caught)
    assert [r["loss"] for r in run.records] == [0.1]


def test_tensorboard_reads_the_mirrored_images_and_histograms(store_kind: str, store_url: str, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = tmp_path / "tb"
    files = tmp_path / "files" if store_kind == "postgres" else None
    store = rk.open(store_url, mirrors=[rk.TensorBoard(board)], files=files)
    values = RNG.normal(size=500)
    with fast_run(store.collection("study")) as run:
        train = run.scope(phase="train")
        train.log({"sample": rk.Image(RGB, caption="x"), "loss": 0.3})
        train.log({"weights": rk.Histogram(values, bins=8)}, step=4)
    store.close()
    events = EventAccumulator(str(board / "study" / run.id), size_guidance={"images": 0, "histograms": 0})
    events.Reload()
    tags = events.Tags()
    assert tags["images"] == ["phase=train/sample"] and tags["histograms"] == ["phase=train/weights"]
    (image,) = events.Images("phase=train/sample")
    assert (image.width, image.height, image.step) == (17, 12, 0)
    assert np.array_equal(png.decode(image.encoded_image_string), RGB)
    (histogram,) = events.Histograms("phase=train/weights")
    counts, edges = np.histogram(values, bins=8)
    assert histogram.step == 4 and histogram.histogram_value.num == 500
    assert list(histogram.histogram_value.bucket) == counts.tolist()
    assert list(histogram.histogram_value.bucket_limit) == pytest.approx(edges[1:].tolist())
    assert [e.value for e in events.Scalars("phase=train/loss")] == [pytest.approx(0.3)]


def test_the_png_writer_and_reader_agree_with_pillow() -> None:
    import io

    from PIL import Image as PILImage

    for pixels in (RGB, RGB[:, :, :1], RNG.integers(0, 256, (9, 3, 4), dtype=np.uint8)):
        ours = png.encode(pixels)
        read_by_pillow = np.asarray(PILImage.open(io.BytesIO(ours)))
        assert np.array_equal(read_by_pillow.reshape(pixels.shape), pixels)
        buffer = io.BytesIO()  # Pillow picks its own row filters (Sub, Average, Paeth...): the reader undoes all
        PILImage.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(buffer, format="PNG")
        assert np.array_equal(png.decode(buffer.getvalue()), pixels)
        assert png.decode(ours).tobytes() == pixels.tobytes()


def test_without_pillow_images_are_written_and_read_by_recordkit_itself(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['PIL'] = None\n"
        "import numpy as np, recordkit as rk\n"
        "pixels = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)\n"
        f"col = rk.open({str(tmp_path / 'records')!r}).collection('c')\n"
        "with col.start_run(capture=False) as run:\n    run.log(img=rk.Image(pixels))\n"
        "print('SAME', bool((run.history('img')[1][0].to_numpy() == pixels).all()))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "SAME True" in result.stdout


def test_a_jpeg_without_pillow_names_the_extra(tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    code = (
        "import sys; sys.modules['PIL'] = None\nimport recordkit as rk\n"
        f"try:\n    rk.Image({str(tmp_path / 'photo.jpg')!r})\n"
        "except rk.MissingDependencyError as exc:\n    print('HINT', exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HINT rk.Image of .jpg files needs Pillow to convert them to PNG: pip install 'recordkit[media]'" in out


def test_importing_recordkit_imports_no_media_library() -> None:
    code = "import sys, recordkit; print(sorted(m for m in ('PIL', 'pyarrow', 'recordkit.media') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.postgres
def test_a_store_without_files_keeps_histograms_and_refuses_images_at_flush(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RECORDKIT_FILES", raising=False)
    store = rk.open(pg_url)
    run = store.collection("c").start_run(capture=False)
    run.log(h=rk.Histogram([1.0, 2.0], bins=2))
    run.log(img=rk.Image(RGB))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(rk.StorageError, match="cannot store image 'img': the store keeps no files"):
            run.flush()
    run.finish()
    assert [r["h"]["counts"] for r in run.records] == [[1, 1]]
    store.close()


def test_synced_images_read_back_from_the_destination(fresh_store: rk.Store, tmp_path: Path) -> None:
    source = rk.open(tmp_path / "source")
    with fast_run(source.collection("study")) as run:
        run.log(sample=rk.Image(RGB), table=rk.Table([[1]], columns=["a"]))
    source.sync_to(fresh_store)
    copied = fresh_store.run(run.id)
    assert np.array_equal(copied.history("sample")[1][0].to_numpy(), RGB)
    assert copied.history("table")[1][0].rows == [[1]]
    source.close()


def test_several_images_under_one_key_are_a_list(store_kind: str, store_url: str, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = tmp_path / "tb"
    files = tmp_path / "files" if store_kind == "postgres" else None
    store = rk.open(store_url, mirrors=[rk.TensorBoard(board)], files=files)
    other = RGB[::-1].copy()
    with fast_run(store.collection("study")) as run:
        run.log(samples=[rk.Image(RGB), rk.Image(other, caption="flipped")], hists=(rk.Histogram([1.0], bins=1),))
    (record,) = list(run.records)
    assert [r["_media"] for r in record["samples"]] == ["image", "image"]
    assert record["samples"][0]["file"].endswith("-0.png") and record["samples"][1]["file"].endswith("-1.png")
    _, (images,) = run.history("samples")
    assert [type(i) for i in images] == [rk.Image, rk.Image] and images[1].caption == "flipped"
    assert np.array_equal(images[0].to_numpy(), RGB) and np.array_equal(images[1].to_numpy(), other)
    assert run.history("hists")[1][0][0].counts == [1]
    store.close()
    events = EventAccumulator(str(board / "study" / run.id), size_guidance={"images": 0})
    events.Reload()
    assert events.Tags()["images"] == ["samples/0", "samples/1"]


def test_a_list_mixing_media_and_other_values_is_refused(collection: rk.Collection) -> None:
    with fast_run(collection) as run, pytest.raises(TypeError, match="value for key 'mixed' cannot be stored"):
        run.log(mixed=[rk.Image(RGB), 1.0])


def test_rk_log_takes_media_values(tmp_path: Path) -> None:
    run = rk.init(project="p", store=str(tmp_path / "records"), capture=False)
    rk.log({"sample": rk.Image(RGB), "acts": rk.Histogram([0.0, 1.0], bins=2)}, step=5)
    rk.finish()
    steps, images = run.history("sample")
    assert steps == [5] and np.array_equal(images[0].to_numpy(), RGB)
    assert run.history("acts")[1][0].counts == [1, 1]


def test_a_media_kind_must_say_how_it_is_encoded() -> None:
    from recordkit.media.values import Media

    class Unencoded(Media):
        kind = "sound"

    with pytest.raises(TypeError, match="encode"):
        Unencoded()
