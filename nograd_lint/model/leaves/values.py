"""What the leaf interpreter knows of a value, and how facts meet where paths join."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from nograd_lint import libcst as cst

if TYPE_CHECKING:
    from nograd_lint.model.leaves.records import InPlace


class Kind(enum.Enum):
    LEAF = "leaf"
    TRACKED = "tracked"
    PLAIN = "plain"
    MODULE = "module"
    PARAMS = "params"  # an iterable of leaves
    NAMED_PARAMS = "named params"  # of (name, leaf) pairs
    MODULES = "modules"
    NAMED_MODULES = "named modules"
    GROUPS = "param groups"  # an optimizer's ``param_groups``
    GROUP = "param group"
    EMPTY = "empty list"  # ``[]``: becomes PARAMS as leaves are appended to it
    FACTORY = "module factory"  # a module class, ``partial`` of one: calling it makes a module
    TUPLES = "tuples"  # ``zip(...)``, ``enumerate(...)``: ``items`` are what each position iterates


TENSORS = frozenset({Kind.LEAF, Kind.TRACKED, Kind.PLAIN})
REQUIRES_GRAD = frozenset({Kind.LEAF, Kind.TRACKED})
# What iterating over a collection binds the loop variable (or the pair's second item) to.
# Only containers (``nn.Sequential``, ``nn.ModuleList``) can be iterated over as a module.
ELEMENT = {Kind.PARAMS: Kind.LEAF, Kind.NAMED_PARAMS: Kind.LEAF, Kind.MODULES: Kind.MODULE,
           Kind.NAMED_MODULES: Kind.MODULE, Kind.GROUPS: Kind.GROUP, Kind.MODULE: Kind.MODULE}
PAIRS = frozenset({Kind.NAMED_PARAMS, Kind.NAMED_MODULES})
COLLECTIONS = frozenset(ELEMENT) | {Kind.TUPLES}


@dataclass(frozen=True)
class Value:
    kind: Kind
    origin: str = ""  # how a leaf came to require grad, for messages
    history: frozenset = frozenset()  # ops in its graph that saved a tensor for backward
    saved_by: frozenset = frozenset()  # ops that saved this very tensor
    loop: Optional[cst.For] = None  # the loop over parameters that bound this leaf
    # A module, module factory or collection: the classes it is (or makes) an instance of, as
    # the module's own ClassDefs or torch's qualified names (empty: not known).
    classes: frozenset = frozenset()
    frozen: bool = False  # after ``requires_grad_(False)``: nothing in it requires grad
    items: tuple = ()  # TUPLES: per position, the collection (a Value or None) it iterates
    in_module: bool = False  # a leaf a module holds (``conv.weight``), whatever name it has here


def requires_grad(value: Value | None) -> bool:
    return value is not None and value.kind in REQUIRES_GRAD


#: What a module method returns, by its name.
COLLECTION_KINDS = {"parameters": Kind.PARAMS, "named_parameters": Kind.NAMED_PARAMS,
                    "modules": Kind.MODULES, "named_modules": Kind.NAMED_MODULES,
                    "children": Kind.MODULES, "named_children": Kind.NAMED_MODULES}


@dataclass
class State:
    """What holds at one point of a function: values by name or attribute chain, and the
    ops whose saved tensors were modified since: in place (``stale``: autograd's version check
    will refuse them) or through ``.data`` (``hidden``: they will compute with the new values)."""

    values: dict[str, Value] = field(default_factory=dict)
    stale: dict[cst.CSTNode, InPlace] = field(default_factory=dict)  # op -> where it went stale
    hidden: dict[cst.CSTNode, InPlace] = field(default_factory=dict)  # op -> where it changed

    def copy(self) -> State:
        return State(dict(self.values), dict(self.stale), dict(self.hidden))

    def bind(self, key: str, value: Value | None) -> None:
        # Rebinding ``self.fc`` also forgets what was known of ``self.fc.weight``.
        prefix = key + "."
        for known in [k for k in self.values if k.startswith(prefix)]:
            del self.values[known]
        if value is None:
            self.values.pop(key, None)
        else:
            self.values[key] = value


def merge(states) -> State | None:
    """What holds on every path that reaches here (None: no path does)."""
    live = [s for s in states if s is not None]
    if not live:
        return None
    merged = live[0].copy()
    for other in live[1:]:
        values = {}
        for key, value in merged.values.items():
            common = meet(value, other.values.get(key))
            if common is not None:
                values[key] = common
        merged.values = values
        merged.stale = {op: site for op, site in merged.stale.items() if op in other.stale}
        merged.hidden = {op: site for op, site in merged.hidden.items() if op in other.hidden}
    return merged


def meet(a: Value, b: Value | None) -> Value | None:
    """What is certain of a value that is ``a`` on one path and ``b`` on another."""
    if b is None:
        return None
    if {a.kind, b.kind} == {Kind.EMPTY, Kind.PARAMS}:
        return a if a.kind is Kind.PARAMS else b  # a list of leaves, perhaps none yet
    if a.kind is not b.kind:
        return None
    if a == b:
        return a
    return Value(a.kind, a.origin if a.origin == b.origin else "on every path",
                 a.history & b.history, a.saved_by & b.saved_by, a.loop if a.loop is b.loop else None,
                 a.classes | b.classes if a.classes and b.classes else frozenset(),
                 a.frozen or b.frozen,
                 tuple(meet(x, y) if x is not None else None for x, y in zip(a.items, b.items))
                 if len(a.items) == len(b.items) else (), a.in_module and b.in_module)


def same(a: State | None, b: State | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.values == b.values and a.stale.keys() == b.stale.keys()
            and a.hidden.keys() == b.hidden.keys())
