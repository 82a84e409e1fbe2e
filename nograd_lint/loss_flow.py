"""Does a value reach a loss?  For NG301: ``volatile=True`` on a value that is then trained
against (a DQN's bootstrap target, ``reward + gamma * model(Variable(s, volatile=True)).max(1)[0]``)
stopped gradients through it before PyTorch 0.4; since then they flow, and the model is silently
trained through its own target.  That deserves stronger words than "remove the flag".

The flow followed is deliberately plain: through assignments to names, in order, within the
function (or module) that holds the call; a loss is a call whose name says so (``*loss*``,
``criterion``), a name containing ``loss`` being assigned, or ``.backward()``.
"""

from __future__ import annotations

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


def _callee(call: cst.Call) -> str:
    func = call.func
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return func.value if isinstance(func, cst.Name) else ""


def _is_loss(node: cst.CSTNode, tainted: set[str], *, seed: cst.CSTNode | None = None) -> bool:
    """Whether ``node`` (a small statement) computes a loss from a tainted name (or from the
    ``seed`` expression inside it) or calls ``backward()`` on one."""
    def tainted_in(part: cst.CSTNode) -> bool:
        return bool(_names_in(part) & tainted) or seed is not None and _contains(part, seed)

    if isinstance(node, (cst.Assign, cst.AnnAssign, cst.AugAssign)) and node.value is not None:
        targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
        if any(word in name.lower() for t in targets for name in _names_in(t)
               for word in _LOSS_WORDS) and tainted_in(node.value):
            return True
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, cst.Call):
            name = _callee(item).lower()
            if any(word in name for word in _LOSS_WORDS) and any(tainted_in(a.value) for a in item.args):
                return True
            if name == "backward" and isinstance(item.func, cst.Attribute) and tainted_in(item.func.value):
                return True
        stack.extend(children(item))
    return False


def _small_statements(scope: cst.CSTNode):
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


def feeds_loss(scope: cst.CSTNode, value: cst.CSTNode) -> bool:
    """Whether ``value`` (an expression in ``scope``, a function or module) flows into a loss
    or a ``backward()`` later in ``scope``."""
    tainted: set[str] = set()
    for statement in _small_statements(scope):
        seeded = not tainted and _contains(statement, value)
        if not tainted and not seeded:
            continue
        if _is_loss(statement, tainted, seed=value if seeded else None):
            return True
        if isinstance(statement, (cst.Assign, cst.AnnAssign, cst.AugAssign)) and statement.value is not None:
            if seeded or _names_in(statement.value) & tainted:
                targets = ([t.target for t in statement.targets]
                           if isinstance(statement, cst.Assign) else [statement.target])
                for target in targets:
                    tainted |= _names_in(target)
    return False
