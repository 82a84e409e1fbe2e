"""What the escape analysis records in the walk: candidate blocks, scopes and their events."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from nograd_lint import libcst as cst

from nograd_lint.model.grad_mode import Where


class EventKind(enum.Enum):
    USE = "use"  # a Name read
    BIND = "bind"  # a Name bound (see How)
    STORE = "store"  # an attribute or subscript assigned
    CALL = "call"
    RETURN = "return"
    YIELD = "yield"


class How(enum.Enum):
    """How a name is bound, or a store made."""

    ASSIGN = "assign"
    AUGASSIGN = "augassign"
    FOR = "for"
    AS = "as"
    WALRUS = "walrus"
    DEF = "def"
    IMPORT = "import"
    PARAM = "param"


@dataclass(eq=False)
class Candidate:
    """A ``with torch.no_grad():`` block or a ``@torch.no_grad()`` function."""

    node: cst.With | cst.FunctionDef
    manager: cst.BaseExpression  # ``torch.no_grad()`` in the with item / decorator, or bare
    scope: Scope  # where the names bound in the block live
    loops: tuple[cst.CSTNode, ...]  # loops of that scope around the block
    start: int = 0  # traversal order where the block's body begins
    events: list[Event] = field(default_factory=list)  # what happens in the body
    reason: str | None = None  # why it must stay no_grad; None once judged safe


@dataclass(eq=False)
class Event:
    kind: EventKind
    node: cst.CSTNode  # the Name used or bound, the store target, the Call, the Return/Yield
    scope: Scope
    where: Where
    context: tuple  # (open candidates of the scope, loops of the scope) when it happened
    order: int
    value: cst.BaseExpression | None = None  # assigned / stored / returned value
    how: How | None = None  # of a binding or store
    callee: str = ""  # of a call: the qualified name of what it calls, if imported


@dataclass(eq=False)
class Scope:
    node: cst.CSTNode | None  # FunctionDef, Lambda, ClassDef; None for the module
    parent: Scope | None
    children: list[Scope] = field(default_factory=list)
    bound: set[str] = field(default_factory=set)
    declared: set[str] = field(default_factory=set)  # global / nonlocal
    bindings: dict[str, list[Event]] = field(default_factory=dict)
    uses: dict[str, list[Event]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)  # stores, calls, returns, bindings
    open: list[Candidate] = field(default_factory=list)
    loops: list[cst.CSTNode] = field(default_factory=list)
    context: tuple = ((), ())

    @property
    def is_class(self) -> bool:
        return isinstance(self.node, cst.ClassDef)

    @property
    def is_function(self) -> bool:
        return isinstance(self.node, (cst.FunctionDef, cst.Lambda))

    def refresh(self) -> None:
        self.context = (tuple(self.open), tuple(self.loops))


class Unsafe(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
