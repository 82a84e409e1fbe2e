"""Resolve names to canonical ``torch.*`` qualified names from the module's imports.

Lightweight on purpose: libcst's scope metadata costs several times a parse, while grad-mode
rules only need to know which names and attribute chains stand for torch objects.  Bindings are
module-flat and follow source order (the traversal visits an import before its uses); a name
rebound by ``def``, ``class`` or assignment stops resolving to torch.

    import torch as T                          T.autograd.Variable  -> torch.autograd.Variable
    from torch.autograd import Variable as V   V                    -> torch.autograd.Variable
    import runtime                             runtime.no_grad      -> torch.no_grad
"""

from __future__ import annotations

from collections.abc import Iterable

from typing import TYPE_CHECKING

from nograd_lint import libcst as cst

from nograd_lint.model.layers import Layer

if TYPE_CHECKING:
    from nograd_lint.context import ModuleContext


def dotted_name(node: cst.BaseExpression | None) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, None for anything else."""
    parts: list[str] = []
    # ``type(...) is``: libcst's classes are ABCs, and isinstance on them is slow here.
    while type(node) is cst.Attribute:
        parts.append(node.attr.value)
        node = node.value
    if type(node) is not cst.Name:
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


def torch_aliases(torch_modules: Iterable[str]) -> tuple[str, ...]:
    """The configured modules that stand for torch, minus torch itself."""
    return tuple(m for m in torch_modules if m and m != "torch")


def canonical(module_path: str, aliases: tuple[str, ...]) -> str:
    """``module_path`` with a module standing for torch (see torch_aliases) spelled ``torch``."""
    for alias in aliases:
        if module_path == alias or module_path.startswith(alias + "."):
            return "torch" + module_path[len(alias):]
    return module_path


class ImportResolver(Layer):
    """Tracks import bindings during the traversal; ``qualified_name`` answers at use sites."""

    @classmethod
    def build(cls, context: ModuleContext) -> ImportResolver:
        return cls(context.config.torch_modules)

    def __init__(self, torch_modules: Iterable[str] = ("runtime",)) -> None:
        # Modules that stand for torch (our own runtime by default): their names map onto torch.
        self._torch_aliases = torch_aliases(torch_modules)
        self._bindings: dict[str, str] = {}
        self.imports_torch = False

    def canonical(self, module_path: str) -> str:
        return canonical(module_path, self._torch_aliases)

    def _bind(self, local: str, target: str) -> None:
        target = self.canonical(target)
        self._bindings[local] = target
        if target == "torch" or target.startswith("torch."):
            self.imports_torch = True

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = dotted_name(alias.name)
            if full is None:
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self._bind(alias.asname.name.value, full)
            else:
                top = full.split(".", 1)[0]
                self._bind(top, top)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.relative or node.module is None or isinstance(node.names, cst.ImportStar):
            return
        module = dotted_name(node.module)
        if module is None:
            return
        for alias in node.names:
            name = dotted_name(alias.name)
            if name is None:
                continue
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self._bind(local, f"{module}.{name}")

    def shadow(self, name: str) -> None:
        """A local definition hides an imported name of the same spelling."""
        self._bindings.pop(name, None)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.shadow(node.name.value)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.shadow(node.name.value)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        if isinstance(node.target, cst.Name):
            self.shadow(node.target.value)

    def qualified_name(self, node: cst.BaseExpression) -> str | None:
        """The canonical dotted name ``node`` refers to, if it comes from an import."""
        name = dotted_name(node)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        target = self._bindings.get(head)
        if target is None:
            return None
        return f"{target}.{rest}" if rest else target

    def spelling(self, qualified: str) -> str | None:
        """How this module can write ``qualified`` (e.g. ``T.no_grad`` after ``import torch as
        T``), or None when nothing imported reaches it."""
        best = None
        for local, target in self._bindings.items():
            if qualified == target or qualified.startswith(target + "."):
                candidate = local + qualified[len(target):]
                if best is None or len(candidate) < len(best):
                    best = candidate
        return best
