"""What the leaf analysis finds, for the rules NG201-NG204."""

from __future__ import annotations

from dataclasses import dataclass

from nograd_lint import libcst as cst

from nograd_lint.model.grad_mode import Grad
from nograd_lint.model.leaves.values import Value


@dataclass(frozen=True)
class InPlace:
    """An in-place update of ``key`` (NG201, NG202, NG204's sites)."""

    node: cst.CSTNode  # the statement (augmented or subscript assignment) or the method call
    statement: cst.CSTNode  # the small statement it is in
    key: str
    value: Value
    through_view: bool  # ``w[0] = 1``, ``w.view(4).add_(1)``
    through_data: bool  # ``w.data.add_(1)``, ``w.data[0] = 1``: autograd's version counter never sees it
    grad: Grad
    loops: tuple  # enclosing ``for`` loops, outermost first
    each: bool = False  # every tensor of the collection ``key``: ``torch._foreach_mul_(ps, 2)``
    out: str | None = None  # the function writing its result into ``key``: ``clamp(w, out=w)``


@dataclass(frozen=True)
class Rebinding:
    """``key = <expression of key>`` where ``key`` held a grad leaf (NG203)."""

    node: cst.Assign
    key: str
    value: Value
    grad: Grad


@dataclass(frozen=True)
class StaleBackward:
    """A ``backward()`` whose graph holds ``op``, whose saved tensor ``site`` modified: in place
    (NG204: the backward raises) or through ``.data`` (NG202: it silently uses the new values)."""

    backward: cst.CSTNode
    op: cst.CSTNode
    site: InPlace

    def op_source(self, limit: int = 40) -> str:
        """The saving op as written, on one line, shortened to ``limit`` characters."""
        text = " ".join(cst.Module([]).code_for_node(self.op).split())
        return text if len(text) <= limit else text[:limit - 3] + "..."
