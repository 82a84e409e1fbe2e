"""``runtime.autograd.graph``: the graph node type, as ``torch.autograd.graph.Node``."""

from runtime.autograd.node import Node

__all__ = ["Node"]
