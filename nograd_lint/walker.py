"""The engine's single traversal of a libcst tree: each node goes to the layers and rules that
have a method for it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nograd_lint import libcst as cst

from nograd_lint.model.scopes import SemanticModel
from nograd_lint.positions import Statements, is_statement
from nograd_lint.tree import children


class Walker:
    """One traversal for all rules: each node goes to the rules that have a method for it.

    Iterative, so deep nesting cannot overflow the stack, and read-only (see ``tree.py``).
    Method tables are built once per visitor class, not per file.
    """

    _tables: dict[type, tuple[dict[str, str], dict[str, str]]] = {}

    def __init__(self, model: SemanticModel, visitors: Sequence[object]) -> None:
        self._model = model
        self._by_name_visit: dict[str, list[Callable]] = {}
        self._by_name_leave: dict[str, list[Callable]] = {}
        # The model sees a node before every other visitor and lets go of it after them all.
        for visitor in (model, *visitors):
            visits, _ = self._table(type(visitor))
            for node_name, method in visits.items():
                self._by_name_visit.setdefault(node_name, []).append(getattr(visitor, method))
        for visitor in (*visitors, model):
            _, leaves = self._table(type(visitor))
            for node_name, method in leaves.items():
                self._by_name_leave.setdefault(node_name, []).append(getattr(visitor, method))

    @classmethod
    def _table(cls, visitor_type: type) -> tuple[dict[str, str], dict[str, str]]:
        table = cls._tables.get(visitor_type)
        if table is None:
            names = dir(visitor_type)
            table = ({n[6:]: n for n in names if n.startswith("visit_")},
                     {n[6:]: n for n in names if n.startswith("leave_")})
            cls._tables[visitor_type] = table
        return table

    def walk(self, root: cst.CSTNode) -> Statements:
        """Visit every node; return the statements met, for positions.py (whose own walk
        would cost a second traversal of every file with a finding).  Keeps the model's
        pre-order index current for the visitors that run: it numbers the nodes some visitor
        sees (the others need none, and counting them would cost every node)."""
        model = self._model
        index = -1
        methods_for: dict[type, tuple[list[Callable], list[Callable], bool]] = {}
        statements: list[cst.CSTNode] = []
        owner: dict[int, int] = {}
        current = -1  # the index of the innermost statement around, in ``statements``
        stack: list = [root]
        while stack:
            node = stack.pop()
            node_type = type(node)
            if node_type is _Leave:
                if node.methods:
                    model.index = index
                    for method in node.methods:
                        method(node.node)
                current = node.owner
                continue
            methods = methods_for.get(node_type)
            if methods is None:
                methods = methods_for[node_type] = (
                    self._by_name_visit.get(node_type.__name__, []),
                    self._by_name_leave.get(node_type.__name__, []), is_statement(node_type))
            visits, leaves, statement = methods
            if statement:
                stack.append(_Leave(node, leaves, current))
                current = len(statements)
                statements.append(node)
            elif leaves:  # most node types have none: no leave entry to push and pop
                stack.append(_Leave(node, leaves, current))
            owner[id(node)] = current
            if visits:
                index += 1
                model.index = index
                for method in visits:
                    method(node)
            kids = children(node)
            kids.reverse()
            stack.extend(kids)
        model.index = index
        return Statements(statements, owner)


class _Leave:
    """A stack entry of :meth:`Walker.walk`: call ``methods`` on ``node``, its subtree done,
    and go back to the statement ``owner``."""

    __slots__ = ("node", "methods", "owner")

    def __init__(self, node: cst.CSTNode, methods: list[Callable], owner: int) -> None:
        self.node, self.methods, self.owner = node, methods, owner
