"""Is a value trained against?  For NG301: ``volatile=True`` on a value that then feeds a
loss that is backpropagated (a DQN's bootstrap target,
``reward + gamma * model(Variable(s, volatile=True)).max(1)[0]``) stopped gradients through it
before PyTorch 0.4; since then they flow, and the model is silently trained through its own
target.  That deserves stronger words than "remove the flag".  A validation loss that is only
logged does not: there the flag's loss costs memory, not correctness.

The flow followed is deliberately plain: through assignments to names, in order, within the
function (or module) that holds the call.  The value is trained against when it reaches a
``.backward()`` call, or a loss (a call named like ``*loss*`` or ``criterion``, or a name
containing ``loss``) that the function returns to its caller.
"""

from __future__ import annotations

from collections.abc import Iterator

from nograd_lint import libcst as cst

from nograd_lint.tree import children

_LOSS_WORDS = ("loss", "criterion")


def _names_in(node: cst.CSTNode) -> set[str]:
    found, stack = set(), [node]
    while stack:
        item = stack.pop()
        if isinstance(item, cst.Name):
            found.add(item.value)
        elif isinstance(item, cst.Attribute):
            stack.append(item.value)  # ``x.attr``: x, not attr
        else:
            stack.extend(children(item))
    return found


def _contains(node: cst.CSTNode, target: cst.CSTNode) -> bool:
    stack = [node]
    while stack:
        item = stack.pop()
        if item is target:
            return True
        stack.extend(children(item))
    return False


def _calls(node: cst.CSTNode) -> Iterator[cst.Call]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, cst.Call):
            yield item
        stack.extend(children(item))


def _callee(call: cst.Call) -> str:
    func = call.func
    if isinstance(func, cst.Attribute):
        return func.attr.value.lower()
    return func.value.lower() if isinstance(func, cst.Name) else ""


def _small_statements(scope: cst.CSTNode) -> Iterator[cst.BaseSmallStatement]:
    """The small statements of ``scope`` in source order, not entering nested functions or
    classes (their code runs elsewhere)."""
    stack = [scope]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.BaseSmallStatement):
            yield node
            continue
        if node is not scope and isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        kids = children(node)
        kids.reverse()
        stack.extend(kids)


class _Flow:
    """The names that hold the value (``tainted``) and those that hold a loss computed from it
    (``losses``), statement by statement."""

    def __init__(self, value: cst.CSTNode) -> None:
        self.value = value
        self.tainted: set[str] = set()
        self.losses: set[str] = set()

    def carries(self, node: cst.CSTNode) -> bool:
        return bool(_names_in(node) & self.tainted) or _contains(node, self.value)

    def is_loss(self, node: cst.CSTNode) -> bool:
        """A loss computed from the value, or a name holding one, in ``node``."""
        return bool(_names_in(node) & self.losses) or any(
            any(word in _callee(call) for word in _LOSS_WORDS)
            and any(self.carries(arg.value) for arg in call.args) for call in _calls(node))

    def trains(self, statement: cst.BaseSmallStatement) -> bool:
        """Whether ``statement`` backpropagates through the value or returns a loss made of
        it; on the way, assignments pass the value (and losses) on to their targets."""
        for call in _calls(statement):
            if (_callee(call) == "backward" and isinstance(call.func, cst.Attribute)
                    and self.carries(call.func.value)):
                return True
        if isinstance(statement, cst.Return) and statement.value is not None:
            return self.is_loss(statement.value)
        if isinstance(statement, (cst.Assign, cst.AnnAssign, cst.AugAssign)) and statement.value is not None:
            targets = ([t.target for t in statement.targets]
                       if isinstance(statement, cst.Assign) else [statement.target])
            names = set().union(*(_names_in(t) for t in targets))
            if self.carries(statement.value):
                self.tainted |= names
                if self.is_loss(statement.value) or any(
                        word in name.lower() for name in names for word in _LOSS_WORDS):
                    self.losses |= names
            elif self.is_loss(statement.value):
                self.losses |= names
        return False


def is_trained_against(scope: cst.CSTNode, value: cst.CSTNode) -> bool:
    """Whether ``value`` (an expression in ``scope``, a function or module) flows into a
    ``backward()`` later in ``scope``, or into a loss that ``scope`` returns."""
    flow = _Flow(value)
    started = False
    for statement in _small_statements(scope):
        started = started or _contains(statement, value)
        if started and flow.trains(statement):
            return True
    return False
