"""The state of the git repository a run starts in: commit, branch, remote, dirty flag, untracked files
and the diff of uncommitted changes.

Read with one ``git status`` spawn (and one ``git diff HEAD`` only when tracked files changed); the
repository root, linked worktrees and remotes are read from the files under ``.git`` directly. The diff
is redacted (:func:`~recordkit.capture.redaction.redact_diff`) before it is returned, and the remote URL
loses its credentials. ``subprocess`` is imported only when git is run, so importing this module is cheap.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Collection, Mapping
from typing import Any

from recordkit.capture._text import clean_text
from recordkit.capture.redaction import redact_diff, strip_url_credentials

__all__ = ["DEFAULT_MAX_DIFF_BYTES", "DEFAULT_MAX_UNTRACKED", "capture_git"]

#: Largest ``git diff`` kept; a bigger diff is cut at the last whole line before this many bytes.
DEFAULT_MAX_DIFF_BYTES = 1_000_000

#: Most untracked paths listed; ``untracked_count`` still gives the full number.
DEFAULT_MAX_UNTRACKED = 100

# A git hang (network filesystem, a huge tree) must not hold a run's start forever.
_GIT_TIMEOUT_S = 10.0

# Variables with which git would look at another repository than the one we found (set inside hooks).
_GIT_LOCATION_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_PREFIX")


def capture_git(
    path: str,
    *,
    max_diff_bytes: int = DEFAULT_MAX_DIFF_BYTES,
    max_untracked: int = DEFAULT_MAX_UNTRACKED,
    secrets: Collection[str] = (),
) -> tuple[dict[str, Any] | None, dict[str, bytes]]:
    """Capture the state of the git repository holding ``path``.

    One ``git status --porcelain=v2 --branch -z`` gives the commit, branch, upstream, dirty flag and
    untracked files; one ``git diff HEAD`` runs only when tracked files changed; the remote URL is read
    from the repository's config file. The repository root is found by walking up from ``path``.

    Parameters
    ----------
    path
        A folder inside the working tree.
    max_diff_bytes
        Largest diff kept; a longer one is cut at the last whole line within the limit and marked
        ``truncated``.
    max_untracked
        Most untracked paths listed.
    secrets
        Literal secret values to scrub from the diff (:func:`~recordkit.capture.redaction.known_secrets`).

    Returns
    -------
    git : dict or None
        The ``git`` part described in :mod:`recordkit.capture.environment`; ``None`` outside a
        repository or when no ``git`` program is installed.
    files : dict
        ``{"git.diff": bytes}`` when tracked files changed, else empty.
    """
    found = _find_repository(path)
    if found is None:
        return None, {}
    import subprocess  # only once there is a repository to read (it costs a few ms to import)

    root, git_dir = found
    remotes = _read_remotes(git_dir)
    doc: dict[str, Any] = {
        "root": clean_text(root),
        "commit": None,
        "branch": None,
        "upstream": None,
        "ahead": None,
        "behind": None,
        "remote_url": _choose_remote(remotes, None),
        "dirty": False,
        "diff": None,
        "untracked": [],
        "untracked_count": 0,
        "untracked_truncated": False,
    }
    env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION_VARS}
    # Without optional locks `git status` does not rewrite the index, so it never races the user's git.
    env.update(GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    try:
        status = subprocess.run(
            ["git", "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=normal"],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:  # no git program
        return None, {}
    except (OSError, subprocess.TimeoutExpired) as exc:
        doc["error"] = f"git status failed: {exc}"
        return doc, {}
    if status.returncode != 0:
        # e.g. "detected dubious ownership": say so rather than pretend there is no repository.
        message = status.stderr.decode("utf-8", "replace").strip().splitlines()
        doc["error"] = f"git status failed: {message[0] if message else status.returncode}"
        return doc, {}
    untracked = _parse_status(status.stdout, doc)
    doc["untracked_count"] = len(untracked)
    doc["untracked"] = untracked[:max_untracked]
    doc["untracked_truncated"] = len(untracked) > max_untracked
    doc["remote_url"] = _choose_remote(remotes, doc["upstream"])
    files: dict[str, bytes] = {}
    if doc["dirty"] and doc["commit"] is not None:
        import hashlib

        try:
            diff, truncated = _git_diff(root, env, max_diff_bytes)
        except OSError as exc:
            doc["error"] = f"git diff failed: {exc}"
        else:
            diff, redacted = redact_diff(diff, secrets)
            files["git.diff"] = diff
            doc["diff"] = {
                "file": "git.diff",
                "size": len(diff),
                "sha256": hashlib.sha256(diff).hexdigest(),
                "truncated": truncated,
                "redacted_lines": redacted,
            }
    return doc, files


def _find_repository(path: str) -> tuple[str, str] | None:
    """Return (working tree root, git dir) for the repository holding ``path``, walking up."""
    current = os.path.abspath(path)
    while True:
        dotgit = os.path.join(current, ".git")
        if os.path.isdir(dotgit):
            return current, dotgit
        if os.path.isfile(dotgit):
            # Worktrees and submodules: ".git" is a file saying "gitdir: <path>".
            try:
                with open(dotgit, encoding="utf-8") as f:
                    text = f.read().strip()
            except OSError:
                return None
            if text.startswith("gitdir:"):
                return current, os.path.join(current, text[len("gitdir:") :].strip())
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _parse_status(output: bytes, doc: dict[str, Any]) -> list[str]:
    """Fill commit/branch/upstream/ahead/behind/dirty into ``doc``; return the untracked paths."""
    untracked: list[str] = []
    entries = output.split(b"\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if not entry:
            continue
        kind = entry[:1]
        if kind == b"#":
            _, _, header = entry.decode("utf-8", "backslashreplace").partition(" ")
            field, _, value = header.partition(" ")
            if field == "branch.oid":
                doc["commit"] = None if value == "(initial)" else value
            elif field == "branch.head":
                doc["branch"] = None if value == "(detached)" else value
            elif field == "branch.upstream":
                doc["upstream"] = value
            elif field == "branch.ab":
                ahead, _, behind = value.partition(" ")
                doc["ahead"], doc["behind"] = int(ahead), -int(behind)
        elif kind == b"?":
            untracked.append(entry[2:].decode("utf-8", "backslashreplace"))
        elif kind in (b"1", b"u"):
            doc["dirty"] = True
        elif kind == b"2":
            doc["dirty"] = True
            i += 1  # with -z a rename's original path is the next entry
    return untracked


def _read_remotes(git_dir: str) -> dict[str, str]:
    """Read ``remote.<name>.url`` from the repository's config file, in file order."""
    common = git_dir
    try:
        # A linked worktree keeps its config in the main repository ("commondir").
        with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as f:
            common = os.path.join(git_dir, f.read().strip())
    except OSError:
        pass
    try:
        with open(os.path.join(common, "config"), encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return {}
    remotes: dict[str, str] = {}
    section: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            match = re.match(r'\[\s*remote\s+"((?:[^"\\]|\\.)*)"\s*\]', stripped)
            section = match.group(1) if match else None
        elif section is not None and section not in remotes:
            key, sep, value = stripped.partition("=")
            if sep and key.strip().lower() == "url":
                remotes[section] = value.strip().strip('"')
    return remotes


def _choose_remote(remotes: Mapping[str, str], upstream: str | None) -> str | None:
    """The upstream branch's remote, else origin, else the first remote; credentials stripped."""
    preferred = [upstream.split("/", 1)[0]] if upstream else []
    for name in [*preferred, "origin"]:
        if name in remotes:
            return strip_url_credentials(remotes[name])
    return strip_url_credentials(next(iter(remotes.values()))) if remotes else None


def _git_diff(root: str, env: Mapping[str, str], limit: int) -> tuple[bytes, bool]:
    """Run ``git diff HEAD``, reading at most ``limit`` bytes; return (diff, truncated)."""
    import subprocess

    proc = subprocess.Popen(
        ["git", "diff", "HEAD", "--no-color", "--no-ext-diff", "--no-textconv"],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    # A timer rather than communicate(timeout=...): reading only `limit + 1` bytes keeps a huge diff
    # out of memory, and the timer still stops a hung git.
    timer = threading.Timer(_GIT_TIMEOUT_S, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None
        data = proc.stdout.read(limit + 1)
        truncated = len(data) > limit
        if truncated:
            proc.kill()
            cut = data.rfind(b"\n", 0, limit)
            data = data[: cut + 1] if cut >= 0 else data[:limit]
        proc.stdout.close()
        proc.wait()
    finally:
        timer.cancel()
    return data, truncated

