"""The second pre-filter: which rules *could* fire, read from CPython's ``ast`` of the file.

The libcst parse is the cost of linting (about 10x ``ast.parse``), and the textual triggers let
through most files of a PyTorch project (``.weight``, ``val``...).  The engine parses every such
file with ``ast`` anyway (see ``engine.py``), so one walk over that tree collects the *features*
of the file, and a rule runs only when every feature in its ``Rule.features`` is present.  Each
feature over-approximates what the rule's libcst analysis needs in order to report anything:
where an analysis needs two things in one function or region, so does the feature.  It never
decides a finding itself.  ``--no-prefilter`` turns both filters off, and tests check that the
findings are the same either way.

Each module mirrors one analysis of ``model/`` and documents the features it decides, beside
the predicates that decide them (a change to an analysis and to its mirror belong together):

    walk.py        the walk: frames (per function), context, dispatch to the ``on_*`` hooks
    names.py       model/names.py: imports and aliases
    grad_mode.py   model/grad_mode.py: ``grad-mode``, ``grad-mode-with``,
                   ``grad-mode-call-statement``, ``grad-mode-statement``,
                   ``backward-without-grad``; the grad mode the other mixins read
    evaluation.py  model/evaluation.py: ``eval-forward``, ``forward-after-eval``
    outputs.py     model/escape/outputs.py: may a forward's output reach a place that only
                   looks at it (for ``eval-forward``)
    leaf_values.py model/leaves/' values: what each name may hold (a fixed point)
    leaves.py      model/leaves/: ``leaf-update``, ``leaf-data-update``, ``leaf-rebinding``,
                   ``saved-update``, ``saved-data-update``
    legacy_api.py  NG301-NG303: ``variable-call``, ``volatile-attribute``

The screen must stay free of libcst (so must everything it imports): a run that screens out
every file never imports it.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

from nograd_lint.config import Config
from nograd_lint.screen.evaluation import EvaluationScreen
from nograd_lint.screen.grad_mode import ANY_CALLERS, DISABLED_CALLERS, NO_LEAVES_PASSED
from nograd_lint.screen.leaves import LeavesScreen
from nograd_lint.screen.legacy_api import LegacyApiScreen
from nograd_lint.screen.walk import GradItem
from nograd_lint.vocabulary import Grad

__all__ = ["ANY_CALLERS", "FeatureBounds", "GradItem", "features"]


class _Screen(EvaluationScreen, LeavesScreen, LegacyApiScreen):
    """Every analysis's mirror on one walk."""


def features(tree: ast.Module, source: str | bytes, path: str, config: Config,
             callers: Mapping[str, Grad] = {}) -> frozenset[str]:
    """The features present in ``tree``, parsed from ``source`` (see the modules of this
    package); ``callers`` as model/grad_mode.py takes them from the project index, or
    ANY_CALLERS."""
    return _Screen(source, path, config, callers).run(tree)


class FeatureBounds:
    """The features under any callers the project index can find lie between ``lower()`` and
    ``upper`` (see ANY_CALLERS); under callers that pass no leaf to the module's functions,
    between ``lower()`` and ``unpassed()``.  All settled from one walk of ``tree``."""

    def __init__(self, tree: ast.Module, source: str | bytes, path: str, config: Config) -> None:
        self._screen = _Screen(source, path, config, ANY_CALLERS)
        self.upper = self._screen.run(tree)

    def lower(self) -> frozenset[str]:
        """Two more settles, so asked for only where the upper bound lets a rule run."""
        return self._screen.settle_again({}) & self._screen.settle_again(DISABLED_CALLERS)

    def under(self, callers: Mapping[str, Grad]) -> frozenset[str]:
        """The features under the callers the project index found: ``features()``."""
        return self._screen.settle_again(callers)

    def unpassed(self) -> frozenset[str]:
        """The upper bound where no caller in another file passes a leaf (NO_LEAVES_PASSED)."""
        return self._screen.settle_again(NO_LEAVES_PASSED)
