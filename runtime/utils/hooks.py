"""``torch.utils.hooks``: the handle every ``register_*hook`` returns."""

from __future__ import annotations

import itertools

_ids = itertools.count()


class RemovableHandle:
    """``remove()`` unregisters the hook (twice is fine); also a context manager that removes
    it on exit.  ``hooks`` is the dict the hook was added to, under the key ``id``."""

    def __init__(self, hooks: dict, key: int) -> None:
        self._hooks, self.id = hooks, key

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc_info) -> None:
        self.remove()


def add_hook(hooks: dict, hook) -> RemovableHandle:
    """Register ``hook`` in ``hooks`` (run in registration order) and return its handle."""
    key = next(_ids)
    hooks[key] = hook
    return RemovableHandle(hooks, key)
