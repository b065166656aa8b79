"""Reads a wandb offline run file (``run-<id>.wandb``) with wandb's own protobuf ``Record``.

wandb 0.19+ no longer ships its Python datastore reader (its Go service reads the file), so the
LevelDB-log framing it writes is undone here, as the old ``wandb.sdk.internal.datastore`` did: a 7-byte
file header, 32 KiB blocks, each record a 7-byte header (CRC-32 of type + data, length, type: full,
first, middle, last) and its data. A record whose checksum fails or that is cut short ends the scan.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from typing import Any

FILE_HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
BLOCK = 32 * 1024
RECORD_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def chunks(data: bytes) -> Iterator[bytes]:
    if not data.startswith(FILE_HEADER):
        raise ValueError("not a wandb run file (bad header)")
    pos, pending = len(FILE_HEADER), b""
    while pos + RECORD_HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < RECORD_HEADER:  # the writer pads a block's tail too small for a header
            pos += left
            continue
        crc, length, kind = struct.unpack_from("<IHB", data, pos)
        body = data[pos + RECORD_HEADER : pos + RECORD_HEADER + length]
        if kind == 0 or len(body) < length or zlib.crc32(body, zlib.crc32(bytes([kind]))) != crc:
            return  # end of what was written, or a torn tail
        pos += RECORD_HEADER + length
        if kind == FULL:
            yield body
        elif kind == FIRST:
            pending = body
        elif kind == MIDDLE:
            pending += body
        elif kind == LAST:
            yield pending + body
            pending = b""


def _value(item: Any) -> Any:
    which = item.WhichOneof("value")
    if which is not None:
        return getattr(item, which)
    return json.loads(item.value_json) if item.value_json else None


def history(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(step, {key: value}) for every history row in the file, in order."""
    from wandb.proto import wandb_internal_pb2

    with open(path, "rb") as f:
        data = f.read()
    for body in chunks(data):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(body)
        if record.WhichOneof("record_type") != "history":
            continue
        row = {item.key or "/".join(item.nested_key): _value(item) for item in record.history.item}
        step = record.history.step.num if record.history.HasField("step") else row.get("_step", -1)
        yield int(step), row
