"""``torch.__version__``: the PyTorch release whose semantics runtime follows, with runtime's
own version as the local label ("2.13.0+runtime.0.1.0"), as a string that compares like a
version: ``torch.__version__ >= "2.0"`` and ``>= (2, 0)`` work as with PyTorch's TorchVersion."""

from __future__ import annotations

import re

RUNTIME_VERSION = "0.1.0"
TORCH_SEMANTICS = "2.13.0"


def _release(value) -> tuple:
    if isinstance(value, tuple):
        return tuple(int(part) for part in value)
    match = re.match(r"\d+(\.\d+)*", str(value))
    if match is None:
        raise ValueError(f"Invalid version: '{value}'")
    return tuple(int(part) for part in match.group().split("."))


def _padded(a: tuple, b: tuple) -> tuple[tuple, tuple]:
    width = max(len(a), len(b))
    return a + (0,) * (width - len(a)), b + (0,) * (width - len(b))


class TorchVersion(str):
    __slots__ = ()

    def _compare(self, other) -> tuple[tuple, tuple]:
        return _padded(_release(self), _release(other))

    def __lt__(self, other) -> bool:
        mine, theirs = self._compare(other)
        return mine < theirs

    def __le__(self, other) -> bool:
        mine, theirs = self._compare(other)
        return mine <= theirs

    def __gt__(self, other) -> bool:
        mine, theirs = self._compare(other)
        return mine > theirs

    def __ge__(self, other) -> bool:
        mine, theirs = self._compare(other)
        return mine >= theirs

    def __eq__(self, other) -> bool:
        if isinstance(other, str) and "+" in other:
            return str.__eq__(self, other)
        try:
            mine, theirs = self._compare(other)
        except (TypeError, ValueError):
            return False
        return mine == theirs

    __hash__ = str.__hash__


__version__ = TorchVersion(f"{TORCH_SEMANTICS}+runtime.{RUNTIME_VERSION}")
