"""NG302: reading or setting ``.volatile`` on a tensor."""

from __future__ import annotations

from nograd_lint import libcst as cst

from nograd_lint.rule import Fix, FixSafety, Invalid, Rule, Valid


class VolatileAttribute(Rule):
    """## What it does
    Flags reading or setting ``.volatile`` on a tensor.

    ## Why is this bad?
    ``.volatile`` was removed in PyTorch 0.4: reading ``t.volatile`` always gives ``False`` (with
    a ``UserWarning``) and setting it does nothing, so code that branches on it or sets it to skip
    graph building silently builds graphs.  Ask ``torch.is_grad_enabled()`` instead and disable
    gradients with ``torch.no_grad()``.

    ## Known problems
    Not flagged: files that do not import torch, instances of classes that define their own
    ``volatile`` attribute, and ``argparse`` results.

    ## Fix safety
    Safe: the fix removes a plain ``t.volatile = <constant or name>`` statement.
    """

    INVALID = (
        Invalid("""
            import torch

            x = torch.randn(3)
            x.volatile = True  # expect: NG302
            if x.volatile:  # expect: NG302
                print("no graph")
            """),
    )
    VALID = (
        Valid("""
            import torch

            x = torch.randn(3)
            with torch.no_grad():
                if not torch.is_grad_enabled():
                    print("no graph")
            """),
    )
    fixtures = (
        "ng302_volatile_attribute.py",
        "ok_volatile_unrelated.py",
    )

    code = "NG302"
    name = "volatile-attribute"
    message = ("'.volatile' was removed in PyTorch 0.4 (always False; setting it does nothing): "
               "use 'with torch.no_grad():' and 'torch.is_grad_enabled()'")
    triggers = ("volatile",)
    fix_safety = FixSafety.SAFE
    features = frozenset({"volatile-attribute"})

    def __init__(self, context) -> None:
        super().__init__(context)
        self._own_volatile: set[str] = set()  # classes defining their own ``volatile``
        self._instances: dict[str, str] = {}  # name -> class it was constructed from
        self._namespaces: set[str] = set()  # names bound to argparse results
        self._uses: list[tuple[cst.Attribute, cst.ClassDef | None]] = []
        self._stores: dict[cst.Attribute, cst.Assign] = {}

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._note_binding(target.target, node.value)
        if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Attribute):
            self._stores[node.targets[0].target] = node

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._note_binding(node.target, node.value)

    def _note_binding(self, target: cst.BaseExpression, value: cst.BaseExpression | None) -> None:
        owner = self.context.model.enclosing_class()
        in_class_body = self.context.model.innermost() is owner
        if owner is not None and _is_volatile_definition(target, in_class_body=in_class_body):
            self._own_volatile.add(owner.name.value)
        if isinstance(target, cst.Name) and isinstance(value, cst.Call):
            if isinstance(value.func, cst.Name):
                self._instances[target.value] = value.func.value
            elif isinstance(value.func, cst.Attribute) and value.func.attr.value in (
                    "parse_args", "parse_known_args"):
                self._namespaces.add(target.value)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value == "volatile":
            self._uses.append((node, self.context.model.enclosing_class()))

    def finish(self) -> None:
        if not self.context.names.imports_torch:
            return
        for attribute, owner in self._uses:
            receiver = attribute.value
            if isinstance(receiver, cst.Name):
                if receiver.value in ("self", "cls") and owner is not None and \
                        owner.name.value in self._own_volatile:
                    continue
                if self._instances.get(receiver.value) in self._own_volatile:
                    continue
                if receiver.value in self._namespaces:
                    continue
            store = self._stores.get(attribute)
            if store is None:
                self.report(attribute, "reading '.volatile' always gives False since PyTorch "
                            "0.4: use 'torch.is_grad_enabled()' and disable gradients with "
                            "'with torch.no_grad():'")
                continue
            fix = None
            if isinstance(store.value, (cst.Name, cst.BaseNumber, cst.BaseString)):
                fix = Fix(store, cst.RemoveFromParent())
            self.report(attribute, "setting '.volatile' does nothing since PyTorch 0.4: remove "
                        "it and run the code under 'with torch.no_grad():'", fix)


def _is_volatile_definition(target: cst.BaseExpression, in_class_body: bool) -> bool:
    if isinstance(target, cst.Name):
        return in_class_body and target.value == "volatile"
    return (isinstance(target, cst.Attribute) and target.attr.value == "volatile"
            and isinstance(target.value, cst.Name) and target.value.value == "self")
