"""Names for unnamed runs, and ids users choose (``rk.init(id=...)``).

An unnamed run gets a name people can say and remember, ``adjective-noun-number`` (``brisk-otter-42``),
derived from its id by a hash: the same id always gives the same name, on every machine, so the name
can be rebuilt from the id and a copied (synced) run keeps it. Names need not be unique; ids are.
"""

from __future__ import annotations

import hashlib
import re

from recordkit._exceptions import InvalidNameError

_ADJECTIVES = (
    "amber", "bold", "brisk", "calm", "clever", "cosmic", "crisp", "dapper", "eager", "fancy", "gentle",
    "glad", "golden", "happy", "hardy", "jolly", "keen", "kind", "lively", "lucky", "mellow", "merry",
    "misty", "noble", "plucky", "polished", "proud", "quiet", "rapid", "rosy", "royal", "rustic", "sandy",
    "shiny", "silent", "silver", "snowy", "solar", "spry", "steady", "stellar", "sunny", "swift", "tidy",
    "valiant", "vivid", "warm", "wild", "wise", "zesty",
)
_NOUNS = (
    "badger", "beacon", "breeze", "brook", "canyon", "cedar", "comet", "coral", "crane", "delta", "dune",
    "eagle", "ember", "falcon", "fern", "fjord", "forest", "galaxy", "glacier", "harbor", "heron", "island",
    "lagoon", "lark", "lotus", "maple", "meadow", "meteor", "moon", "nebula", "oasis", "ocean", "orchid",
    "otter", "panda", "pine", "planet", "prairie", "quasar", "raven", "reef", "river", "sparrow", "spruce",
    "summit", "thunder", "tiger", "valley", "willow", "wave",
)
_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def friendly_name(run_id: str) -> str:
    """``adjective-noun-number`` for a run id, always the same for the same id.

    Examples
    --------
    >>> friendly_name("r0123456789abcde") == friendly_name("r0123456789abcde")
    True
    """
    digest = int.from_bytes(hashlib.sha256(run_id.encode()).digest()[:8], "big")
    adjective = _ADJECTIVES[digest % len(_ADJECTIVES)]
    noun = _NOUNS[(digest // len(_ADJECTIVES)) % len(_NOUNS)]
    number = (digest // (len(_ADJECTIVES) * len(_NOUNS))) % 100
    return f"{adjective}-{noun}-{number}"


def check_run_id(run_id: object) -> str:
    """A run id chosen by the user: a letter, then up to 63 letters, digits, ``-`` or ``_``.

    It names the run's folder, so it can never escape the store, and it starts with a letter so it never
    reads as a run number on the command line.
    """
    if not isinstance(run_id, str) or not _ID.fullmatch(run_id):
        raise InvalidNameError(
            f"a run id is a letter followed by up to 63 letters, digits, '-' or '_', not {run_id!r}"
        )
    return run_id
