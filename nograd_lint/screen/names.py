"""Imports and aliases, the screen's mirror of model/names.py: where a name surely resolves
through an import, and to what.

Names imported under another name (``from torch import no_grad as ng``) are found with a
textual scan for ``<name> as <alias>``, so that the walk's order does not matter."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping

from nograd_lint.config import Config
from nograd_lint.model.names import canonical, torch_aliases
from nograd_lint.screen.walk import Walk
from nograd_lint.vocabulary import Grad

# ``name as alias``, with the blanks, line continuations and comments a parenthesised import
# may hold between the words: the ``as`` and alias first (a fast literal scan), then the name
# before it.
_GAP = r"(?:[\s\\]|#[^\n]*\n)"
_ALIAS = {str: (re.compile(rf"[\s\\]as{_GAP}+(\w+)"), re.compile(rf"(\w+){_GAP}*\Z"))}
_ALIAS[bytes] = tuple(re.compile(pattern.pattern.encode()) for pattern in _ALIAS[str])


def _aliases(source: str | bytes) -> dict[str, set[str]]:
    """Local name -> the names it may import, from every ``<name> as <alias>`` in ``source``."""
    aliases: dict[str, set[str]] = {}
    after_as, before = _ALIAS[type(source)]
    for match in after_as.finditer(source):
        name = before.search(source, max(0, match.start() - 200), match.start() + 1)
        if name is not None:
            alias, name = match.group(1), name.group(1)
            if isinstance(name, bytes):
                name, alias = name.decode(), alias.decode()
            aliases.setdefault(alias, set()).add(name)
    return aliases


class NamesScreen(Walk):
    def __init__(self, source: str | bytes, path: str, config: Config,
                 callers: Mapping[str, Grad]) -> None:
        super().__init__(source, path, config, callers)
        self.torch_aliases = torch_aliases(config.torch_modules)
        self.aliases = _aliases(source)
        self.imports: dict[str, list[tuple[str, int]]] = {}  # local -> (module path, line)

    def known_as(self, names: frozenset[str]) -> frozenset[str]:
        """``names`` and the names they are imported as (``from torch import no_grad as ng``)."""
        return names | {alias for alias, imported in self.aliases.items()
                        if not names.isdisjoint(imported)}

    def on_import(self, node: ast.Import | ast.ImportFrom) -> None:
        """Record what the import binds, as model/names.py's ImportResolver reads it."""
        if isinstance(node, ast.ImportFrom):
            if node.level or node.module is None:
                return
            for alias in node.names:
                if alias.name != "*":
                    self.bind(alias.asname or alias.name, f"{node.module}.{alias.name}", node.lineno)
            return
        for alias in node.names:
            if alias.asname is not None:
                self.bind(alias.asname, alias.name, node.lineno)
            else:
                top = alias.name.split(".", 1)[0]
                self.bind(top, top, node.lineno)

    def bind(self, local: str, target: str, line: int) -> None:
        target = canonical(target, self.torch_aliases)
        self.imports.setdefault(local, []).append((target, line))

    def imported_before(self, name: str, line: int) -> bool:
        """Does model/names.py surely resolve ``name``, used on ``line``, through an import?
        Only when its head is imported before that line and never rebound."""
        head = name.partition(".")[0]
        bindings = self.imports.get(head)
        return bool(bindings) and head not in self.stored and min(
            bound for _, bound in bindings) < line

    def resolves(self, name: str, line: int, qualified_names: frozenset[str]) -> bool:
        """Does model/names.py surely resolve ``name``, used on ``line``, to one of
        ``qualified_names``?  Only when it is surely imported, always from the same place."""
        if not self.imported_before(name, line):
            return False
        head, _, rest = name.partition(".")
        targets = {target for target, _ in self.imports[head]}
        if len(targets) != 1:
            return False
        target = targets.pop()
        return (f"{target}.{rest}" if rest else target) in qualified_names
