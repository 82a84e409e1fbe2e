"""``runtime.utils``: ``data`` (loaded on first use) and ``hooks``."""

from runtime.utils import hooks

__all__ = ["data", "hooks"]


def __getattr__(name: str):
    # data builds on tensors; loading it here would make ``hooks`` (which the autograd
    # graph uses) wait for the whole runtime.
    if name == "data":
        import importlib
        return importlib.import_module("runtime.utils.data")
    raise AttributeError(f"module 'runtime.utils' has no attribute '{name}'")
