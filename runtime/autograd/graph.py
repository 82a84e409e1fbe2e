"""``runtime.autograd.graph``: the graph node type, as ``torch.autograd.graph.Node``, and
``increment_version``."""

from runtime.autograd.node import Node

__all__ = ["Node", "increment_version"]


def increment_version(tensor) -> None:
    """Mark ``tensor`` as changed in place (for changes autograd cannot see): backward then
    refuses the values saved before.  An inference tensor has no version: nothing to do."""
    if tensor._counter is not None:
        tensor._counter[0] += 1
