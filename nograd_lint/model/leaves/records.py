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
    through_data: bool  # ``w.data.add_(1)``, ``w.data = ...``
    grad: Grad
    loops: tuple  # enclosing ``for`` loops, outermost first


@dataclass(frozen=True)
class Rebinding:
    """``key = <expression of key>`` where ``key`` held a grad leaf (NG203)."""

    node: cst.Assign
    key: str
    value: Value
    grad: Grad


@dataclass(frozen=True)
class StaleBackward:
    """A ``backward()`` whose graph holds ``op``, whose saved tensor ``site`` modified (NG204)."""

    backward: cst.CSTNode
    op: cst.CSTNode
    site: InPlace
