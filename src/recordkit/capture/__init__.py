"""Capture what a run needs to be reproduced: its config as plain JSON, and the environment it ran in.

Pure functions, kept apart from the store: they read the config object or the system and return plain
values; the core stores them. One module per job:

``config``       :func:`config_to_dict` (dict, argparse, ConfigParser, dataclass, pydantic, OmegaConf) and
                 :func:`config_hash`, the run's config fingerprint
``environment``  :func:`capture_environment`: the whole environment document, part by part (its keys
                 are listed there)
``system``       the ``system``, ``python`` and ``process`` parts
``hardware``     the ``hardware`` part (CPU, memory, disk) and :func:`human_bytes`
``gpu``          the ``gpu`` part, through NVML when nvidia-ml-py is installed
``packages``     the ``packages`` part: :func:`installed_packages`
``git``          the ``git`` part: :func:`capture_git` (commit, branch, remote, dirty, untracked, the diff)
``redaction``    secrets never stored: :func:`redact_env`, :func:`strip_url_credentials`, :func:`scrub_config`,
                 command-line and git-diff redaction
``secrets``      what a secret looks like: names, value formats, this process's literal secrets
``seed``         :func:`seed_everything`

The core imports this package lazily when a run starts; importing it loads nothing heavy (no numpy,
torch, importlib.metadata or subprocess).
"""

from recordkit.capture.config import config_hash, config_to_dict
from recordkit.capture.environment import PARTS, capture_environment
from recordkit.capture.git import DEFAULT_MAX_DIFF_BYTES, DEFAULT_MAX_UNTRACKED, capture_git
from recordkit.capture.hardware import human_bytes
from recordkit.capture.packages import installed_packages
from recordkit.capture.redaction import REDACTED, redact_env, scrub_config, strip_url_credentials
from recordkit.capture.seed import seed_everything

__all__ = [
    "DEFAULT_MAX_DIFF_BYTES",
    "DEFAULT_MAX_UNTRACKED",
    "PARTS",
    "REDACTED",
    "capture_environment",
    "capture_git",
    "config_hash",
    "config_to_dict",
    "human_bytes",
    "installed_packages",
    "redact_env",
    "scrub_config",
    "seed_everything",
    "strip_url_credentials",
]
