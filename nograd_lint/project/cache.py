"""The on-disk cache, modelled on ruff's: entries keyed by a hash of everything they depend on.

Layout: ``<cache dir>/<nograd-lint version>/<kind>/<key>``, one ``marshal`` file per entry
(built-in types only: loading one runs no code), written to a temporary file and renamed
into place, so concurrent runs (pre-commit batches, flake8 workers) never see half an entry.
Every key also covers nograd-lint's own code (``code_fingerprint``).  The directory holds a
``.gitignore`` with ``*`` and a ``CACHEDIR.TAG``, as ruff's does, so neither git nor backup
tools pick it up.  An entry that cannot be read or decoded is a miss;
a cache that cannot be written is a warning, and the run goes on without it.
"""

from __future__ import annotations

import functools
import hashlib
import marshal
import os
import tempfile
from collections.abc import Iterable

from nograd_lint import __version__
from nograd_lint.files import replace_atomically

DEFAULT_DIRECTORY = ".nograd-lint-cache"
_TAG = ("Signature: 8a477f597d28d172789f06886806bc55\n"
        "# This file is a cache directory tag created by nograd-lint.\n"
        "# For information about cache directory tags see https://bford.info/cachedir/\n")


@functools.cache
def code_fingerprint() -> bytes:
    """nograd-lint's version and the size and time of each of its modules: a key part that
    changes with the code, so that an edited checkout (an editable install) is not served
    what older code found."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    stamps = [__version__]
    for folder, _, names in sorted(os.walk(package)):
        for name in sorted(names):
            if name.endswith(".py"):
                status = os.stat(os.path.join(folder, name))
                stamps.append(f"{name}:{status.st_size}:{status.st_mtime_ns}")
    return "\n".join(stamps).encode()


@functools.cache
def _keyed_by_code() -> hashlib._Hash:
    return hashlib.sha256(code_fingerprint())


def digest(parts: Iterable[bytes | str]) -> str:
    """A key from ``parts`` (each length-prefixed, so that no two sequences collide) and the
    code that computed what is stored under it.  SHA-256: most processors hash it in
    hardware, several times faster than BLAKE2 here."""
    hasher = _keyed_by_code().copy()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        hasher.update(len(data).to_bytes(8, "little"))
        hasher.update(data)
    return hasher.hexdigest()[:40]


class Cache:
    """Picklable (a path and a flag): worker processes read and write the same entries."""

    def __init__(self, directory: str) -> None:
        self.directory = os.path.join(directory, __version__)
        self.writable = True

    @classmethod
    def open(cls, directory: str) -> tuple[Cache, str | None]:
        """The cache in ``directory``, created if need be, and a warning if it cannot be
        written (it is still read)."""
        cache = cls(directory)
        try:
            os.makedirs(cache.directory, exist_ok=True)
            for name, text in ((".gitignore", "*\n"), ("CACHEDIR.TAG", _TAG)):
                path = os.path.join(directory, name)
                if not os.path.exists(path):
                    replace_atomically(path, text.encode(), mode=0o644, durable=False)
            for kind in ("index", "results"):
                os.makedirs(os.path.join(cache.directory, kind), exist_ok=True)
            probe, name = tempfile.mkstemp(dir=cache.directory, prefix=".probe-")
            os.close(probe)
            os.unlink(name)
        except OSError as error:
            cache.writable = False
            return cache, (f"cannot write the cache in {directory}: "
                           f"{error.strerror or error}; linting without it")
        return cache, None

    def load(self, kind: str, key: str):
        """The value stored under ``key``, or None.  An entry holds its key too: one that
        decodes but was damaged (or written by something else) does not match it."""
        try:
            with open(os.path.join(self.directory, kind, key), "rb") as handle:
                entry = marshal.load(handle)
        except (OSError, EOFError, ValueError, TypeError):
            return None
        if type(entry) is not tuple or len(entry) != 2 or entry[0] != key:
            return None
        return entry[1]

    def store(self, kind: str, key: str, value) -> None:
        if not self.writable:
            return
        try:
            # 0644: mkstemp's 0600 would hide the cache from other users.
            replace_atomically(os.path.join(self.directory, kind, key),
                               marshal.dumps((key, value)), mode=0o644, durable=False)
        except (OSError, ValueError):
            self.writable = False  # read-only or full: stop trying, the lint goes on
