"""Which files to lint: ``.py`` files under the given directories, minus excluded ones."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field

from nograd_lint.config import DEFAULT_EXCLUDE, Config


@dataclass
class Discovery:
    files: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def discover(paths: Iterable[str], config: Config) -> Discovery:
    """Files named explicitly are linted (unless ``force_exclude`` and excluded, as ruff's
    ``--force-exclude``: pre-commit names every file); directories are walked for ``*.py``
    files, skipping version-control and cache folders, virtual environments and ``exclude``
    globs.  Symbolic links to directories are not followed, so link loops cannot trap the
    walk."""
    found = Discovery()
    seen: set[str] = set()

    def add(path: str) -> None:
        key = os.path.normpath(path)
        if key not in seen:
            seen.add(key)
            found.files.append(path)

    for path in paths:
        if is_force_excluded(path, config):
            continue
        if os.path.isdir(path):
            for root, dirs, names in os.walk(path, onerror=lambda e: found.errors.append(
                    f"{e.filename}: cannot list directory: {e.strerror}")):
                dirs[:] = sorted(d for d in dirs if not _skip_dir(os.path.join(root, d), d, config))
                for name in sorted(names):
                    full = os.path.join(root, name)
                    if name.endswith(".py") and not config.is_excluded(full) and not _special(full):
                        add(full)
        elif os.path.exists(path):
            add(path)
        elif os.path.islink(path):
            found.errors.append(f"{path}: broken symbolic link")
        else:
            found.errors.append(f"{path}: no such file or directory")
    return found


def is_force_excluded(path: str, config: Config) -> bool:
    """Under ``force_exclude``: whether ``path``, or a directory it is in, is excluded (by the
    ``exclude`` globs or the directories skipped by default)."""
    if not config.force_exclude:
        return False
    path = os.path.normpath(path)
    while path and path not in (os.curdir, os.sep):
        name = os.path.basename(path)
        if name in DEFAULT_EXCLUDE or config.is_excluded(path):
            return True
        path = os.path.dirname(path)
    return False


def _special(path: str) -> bool:
    """A directory, FIFO, socket or device met in a walk: not a file to read (reading a FIFO
    would block forever).  A link that cannot be followed is kept, to be reported when read."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode)


def _skip_dir(path: str, name: str, config: Config) -> bool:
    return (name in DEFAULT_EXCLUDE or config.is_excluded(path)
            or os.path.exists(os.path.join(path, "pyvenv.cfg")))


def replace_atomically(path: str, data: bytes, *, mode: int, durable: bool) -> None:
    """Put ``data`` at ``path`` all at once: written to a temporary file in the same directory,
    given ``mode``, then renamed over ``path``, so a reader sees the old content or the new,
    never a part.  ``durable`` flushes it to disk first (a user's file; not a cache entry)."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".nograd-lint-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            if durable:
                stream.flush()
                os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
