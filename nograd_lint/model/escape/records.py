"""What the escape analysis records in the walk: the candidate blocks."""

from __future__ import annotations

from dataclasses import dataclass, field

from nograd_lint import libcst as cst

from nograd_lint.model.bindings import Event, Scope


@dataclass(eq=False)
class Candidate:
    """A ``with torch.no_grad():`` block or a ``@torch.no_grad()`` function."""

    node: cst.With | cst.FunctionDef
    manager: cst.BaseExpression  # ``torch.no_grad()`` in the with item / decorator, or bare
    scope: Scope  # where the names bound in the block live
    loops: tuple[cst.CSTNode, ...]  # loops of that scope around the block
    start: int = 0  # pre-order index of the block's body
    end: int = 0  # pre-order index of the last node in the body
    events: list[Event] = field(default_factory=list)  # what happens in the body, in order
    reason: str | None = None  # why it must stay no_grad; None once judged safe

    def holds(self, event: Event) -> bool:
        """Does ``event`` happen in the body, in the block's own scope?"""
        return event.scope is self.scope and self.start < event.order <= self.end


class Unsafe(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
