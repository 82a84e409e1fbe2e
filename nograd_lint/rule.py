"""What a rule is: a small libcst visitor with a code, a message, trigger strings and docs.

A rule subclasses :class:`Rule`, defines ``visit_<Node>`` / ``leave_<Node>`` methods like a
libcst visitor, and calls :meth:`Rule.report` on the node to flag.  The engine feeds every
enabled rule from one traversal per file (see ``engine.py``).  The class docstring is the
rule's documentation: ``nograd-lint --explain CODE`` prints it, so it carries *Bad* and *Good*
examples.
"""

from __future__ import annotations

import enum
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Union

from nograd_lint import libcst as cst

if TYPE_CHECKING:
    from nograd_lint.context import ModuleContext


class FixSafety(enum.Enum):
    """How sure a fix is to keep the program's meaning: safe fixes run with ``--fix``,
    unsafe ones only with ``--unsafe-fixes`` too."""

    SAFE = "safe"
    UNSAFE = "unsafe"


Replacement = Union["cst.CSTNode", "cst.RemovalSentinel"]


@dataclass(frozen=True)
class Fix:
    """Replace ``target`` (a node of the parsed module) by ``replacement``."""

    target: cst.CSTNode
    replacement: Replacement
    safety: FixSafety = FixSafety.SAFE


@dataclass
class Finding:
    path: str
    line: int
    column: int  # 1-based, as flake8 prints it
    code: str
    message: str
    fix: Fix | None = field(default=None, compare=False, repr=False)

    @property
    def sort_key(self) -> tuple:
        return (self.path, self.line, self.column, self.code)


@dataclass
class Report:
    """A finding before it has a position: positions are computed only if a file has any."""

    node: cst.CSTNode
    code: str
    message: str
    fix: Fix | None = None


class Rule:
    """Base class of every rule.  Subclasses set the class attributes below."""

    code: ClassVar[str]
    name: ClassVar[str]
    message: ClassVar[str]
    #: The rule can only fire on a file whose text contains one of these strings.  Keep this
    #: an over-approximation: the engine skips parsing files that contain none of them.
    triggers: ClassVar[tuple[str, ...]]
    default_enabled: ClassVar[bool] = True
    #: "error" (the code raises when it runs), "warning" (it wastes memory or silently does
    #: the wrong thing) or "info" (legacy style with a risk); SARIF and GitHub output use it.
    severity: ClassVar[str] = "warning"
    fix_safety: ClassVar[FixSafety | None] = None
    #: Shared analyses the rule reads from its context: "grad" (grad-mode regions),
    #: "evaluation" (evaluation regions), "leaves" (leaves and saved tensors).
    needs: ClassVar[frozenset[str]] = frozenset()
    #: Syntax-tree features (see ``screen.py``) the rule cannot fire without; the engine
    #: skips the libcst parse of a file that lacks them for every enabled rule.
    features: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def trigger_strings(cls, config) -> tuple[str, ...]:
        """The trigger strings under ``config`` (a rule with configurable patterns may need
        more, or ``""`` to always run)."""
        return cls.triggers

    def __init__(self, context: ModuleContext) -> None:
        self.context = context

    def report(self, node: cst.CSTNode, message: str | None = None, fix: Fix | None = None) -> None:
        self.context.reports.append(Report(node, self.code, message or self.message, fix))

    def finish(self) -> None:
        """Called once after the traversal, for rules that decide on the whole module."""

    @classmethod
    def explain(cls) -> str:
        doc = inspect.cleandoc(cls.__doc__ or "")
        fix = {None: "no automatic fix", FixSafety.SAFE: "safe fix (--fix)",
               FixSafety.UNSAFE: "unsafe fix (--fix --unsafe-fixes)"}[cls.fix_safety]
        enabled = "enabled by default" if cls.default_enabled else "opt-in (--extend-select)"
        return f"{cls.code} ({cls.name}): {cls.message}\n[{enabled}; {fix}]\n\n{doc}\n"

    @classmethod
    def summary(cls) -> str:
        """The first paragraph of the docstring: one line for tables and SARIF."""
        return " ".join(inspect.cleandoc(cls.__doc__ or cls.message).split("\n\n")[0].split())
