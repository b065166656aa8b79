"""Images and histograms: the caller's cost of logging one, and what the writer spends storing it.

* ``run.log({"img": rk.Image(a)})`` of a 64×64 RGB uint8 array, timed call by call (median), against
  ``a.copy()`` — the least a logger must do in the caller's thread so the caller may reuse its buffer.
* The writer's time per image (PNG, sha256, blob fsync, file row, record), from the time ``flush()``
  takes to drain a backlog of them, against the simplest durable store of one image: Pillow's PNG
  encode (or recordkit's own writer without Pillow), sha256, write and fsync of one file.
* ``rk.Histogram`` of 10,000 floats (64 bins): the caller's cost against ``numpy.histogram`` done
  inline, which is what logging bin counts by hand would cost the training thread.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from benchmarks._util import Result, median, say, temp_dir


def _median_us(call: object, samples: int) -> float:
    pc = time.perf_counter_ns
    out = []
    for i in range(samples):
        t0 = pc()
        call(i)  # type: ignore[operator]
        out.append(pc() - t0)
    return median(out) / 1000


def run(quick: bool) -> list[Result]:
    import numpy as np

    import recordkit as rk
    from recordkit.media.values import _encode_png

    count = 200 if quick else 1000
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(count)]
    values = rng.normal(size=10_000)
    with temp_dir("media") as folder:
        store = rk.open(Path(folder) / "records")
        run_ = store.collection("bench_media").start_run(capture=False)
        run_.log({"warm": rk.Image(images[0]), "h": rk.Histogram(values)})  # imports, tables, first blob
        run_.flush()

        say(f"{count} images of 64x64x3 and {count} histograms of 10,000 floats")
        copy_us = _median_us(lambda i: images[i].copy(), count)
        log_image_us = _median_us(lambda i: run_.log({"img": rk.Image(images[i])}), count)
        t0 = time.perf_counter()
        run_.flush()
        writer_ms = (time.perf_counter() - t0) / count * 1000

        floor_dir = Path(folder) / "floor"
        floor_dir.mkdir()

        def store_one(i: int) -> None:
            data = _encode_png(images[i])
            path = floor_dir / hashlib.sha256(data).hexdigest()
            with path.open("wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())

        t0 = time.perf_counter()
        for i in range(count):
            store_one(i)
        floor_ms = (time.perf_counter() - t0) / count * 1000

        inline_us = _median_us(lambda i: np.histogram(values, bins=64), count)
        log_hist_us = _median_us(lambda i: run_.log({"h": rk.Histogram(values, bins=64)}), count)
        run_.finish()
        store.close()
    return [
        Result("media", "run.log(rk.Image 64x64x3) median", log_image_us, "µs", copy_us, "array.copy()"),
        Result("media", "writer time per image", writer_ms, "ms", floor_ms, "PNG + sha256 + write + fsync",
               note="PNG, sha256, blob fsync, file row and record, drained by flush()"),
        Result("media", "run.log(rk.Histogram 10k floats) median", log_hist_us, "µs", inline_us,
               "numpy.histogram inline", note="the counting happens in the writer thread"),
    ]
