"""``runtime.utils``."""

from runtime.utils import data

__all__ = ["data"]
