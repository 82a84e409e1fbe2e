"""The pre-0.4 autograd API (``Variable``, ``volatile``), the screen's mirror of the rules
NG301-NG303, which need nothing but the names.

``variable-call``  a call of ``Variable`` (NG301, NG303).
``volatile-attribute``  an attribute named ``volatile`` (NG302).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

from nograd_lint.config import Config
from nograd_lint.screen.names import NamesScreen
from nograd_lint.screen.walk import Context
from nograd_lint.vocabulary import Grad

_VARIABLE = frozenset({"Variable"})


class LegacyApiScreen(NamesScreen):
    flagged_attributes = {"volatile": "volatile-attribute"}

    def __init__(self, source: str | bytes, path: str, config: Config,
                 callers: Mapping[str, Grad]) -> None:
        super().__init__(source, path, config, callers)
        self.variable_names = self.known_as(_VARIABLE)

    def on_call(self, node: ast.Call, name: str | None, context: Context) -> None:
        if name in self.variable_names:
            self.found.add("variable-call")
