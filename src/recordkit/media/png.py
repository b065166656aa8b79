"""A small PNG writer and reader on zlib and numpy, for machines without Pillow (pure functions).

Only what images logged with recordkit need: 8-bit greyscale, greyscale + alpha, RGB and RGBA,
not interlaced. The writer filters every row with "Up" (the difference to the row above), which
numpy does for the whole image at once and which compresses photos and plots alike well enough. The
reader undoes all five filters, so it also reads what Pillow and other tools write in those formats;
anything else (palettes, 16 bits, interlacing) asks for Pillow.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour type by number of channels, and back.
COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}
CHANNELS = {0: 1, 4: 2, 2: 3, 6: 4, 3: 3}  # 3 is a palette: decoded to RGB by Pillow only


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode(pixels: Any, level: int = 6) -> bytes:
    """PNG bytes of a uint8 array of shape (height, width) or (height, width, 1 | 2 | 3 | 4)."""
    import numpy as np

    array = np.ascontiguousarray(pixels, dtype=np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    height, width, channels = array.shape
    rows = array.reshape(height, width * channels)
    filtered = np.empty((height, width * channels + 1), dtype=np.uint8)
    filtered[:, 0] = 2  # "Up": each byte minus the byte above it (the first row has zeros above)
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # wraps modulo 256, as the filter wants
    header = struct.pack(">IIBBBBB", width, height, 8, COLOUR_TYPES[channels], 0, 0, 0)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(filtered.tobytes(), level)) + _chunk(
        b"IEND", b""
    )


def info(data: bytes) -> tuple[int, int, int]:
    """(width, height, channels) from a PNG's header; ValueError if ``data`` is not a PNG."""
    if not data.startswith(SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file (no PNG signature and header)")
    width, height, _depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, CHANNELS.get(colour, 4)


def decode(data: bytes) -> Any:
    """A uint8 array of shape (height, width, channels) from PNG bytes this module can read."""
    import numpy as np

    width, height, _ = info(data)
    depth, colour, _compression, _filter, interlace = struct.unpack(">BBBBB", data[24:29])
    if depth != 8 or colour not in COLOUR_TYPES.values() or interlace:
        raise ValueError(
            f"this PNG (bit depth {depth}, colour type {colour}, interlace {interlace}) needs Pillow to be read: "
            "pip install pillow"
        )
    channels = CHANNELS[colour]
    position, idat = 8, []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        chunk = data[position + 4:position + 8]
        if chunk == b"IDAT":
            idat.append(data[position + 8:position + 8 + length])
        elif chunk == b"IEND":
            break
        position += 12 + length
    stride = width * channels
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        row_filter, line = int(raw[y, 0]), raw[y, 1:]
        if row_filter == 0:
            row = line.copy()
        elif row_filter == 1:  # Sub: a running sum per channel along the row
            row = (np.cumsum(line.reshape(width, channels), axis=0, dtype=np.uint64) % 256).astype(np.uint8).ravel()
        elif row_filter == 2:
            row = line + previous
        elif row_filter in (3, 4):
            row = _sequential(row_filter, line, previous, channels)
        else:
            raise ValueError(f"damaged PNG: unknown row filter {row_filter}")
        out[y] = row
        previous = row
    return out.reshape(height, width, channels)


def _sequential(kind: int, line: Any, previous: Any, bpp: int) -> Any:
    """Undo the Average (3) and Paeth (4) filters, which depend on the byte just decoded (slow, rare)."""
    import numpy as np

    row = [0] * len(line)
    above = previous.tolist()
    for i, value in enumerate(line.tolist()):
        left = row[i - bpp] if i >= bpp else 0
        if kind == 3:
            row[i] = (value + (left + above[i]) // 2) & 0xFF
            continue
        upper_left = above[i - bpp] if i >= bpp else 0
        p = left + above[i] - upper_left
        pa, pb, pc = abs(p - left), abs(p - above[i]), abs(p - upper_left)
        predictor = left if pa <= pb and pa <= pc else (above[i] if pb <= pc else upper_left)
        row[i] = (value + predictor) & 0xFF
    return np.array(row, dtype=np.uint8)
