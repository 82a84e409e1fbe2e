"""What a rule is: a small libcst visitor with a code, a message, trigger strings and docs.

A rule is one file in ``rules/`` and one class there.  It subclasses :class:`Rule`, defines
``visit_<Node>`` / ``leave_<Node>`` methods like a libcst visitor, and calls
:meth:`Rule.report` on the node to flag.  The engine feeds every enabled rule from one traversal
per file (see ``engine.py``).

The class is its own documentation, as in Fixit: the docstring has ruff's sections (*What it
does*, *Why is this bad?*, *Known problems*, *Fix safety*), and ``INVALID``/``VALID`` hold
complete example programs whose flagged lines end in ``# expect: CODE``.  One generated test
(``tests/lint/test_rule_examples.py``) runs every example, and ``nograd-lint --explain CODE``
prints the docstring with the first ``INVALID`` and ``VALID`` as its example, so the documented
examples are exactly what the tests run.  ``fixtures`` names the runnable programs in
``fixtures/`` that prove the rule on both backends.
"""

from __future__ import annotations

import enum
import inspect
import re
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Union

from nograd_lint import libcst as cst

if TYPE_CHECKING:
    from nograd_lint.context import ModuleContext
    from nograd_lint.model.layers import Layer


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


def _program(source: str) -> str:
    """An example as written in a rule's class body: indented, starting on the next line."""
    return textwrap.dedent(source).lstrip("\n")


@dataclass(frozen=True)
class Valid:
    """A program the rule must not flag."""

    source: str
    path: str = "train.py"

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", _program(self.source))


@dataclass(frozen=True)
class Invalid:
    """A program the rule flags exactly on the lines marked ``# expect: CODE``; ``fixed`` is
    what the rule's fix makes of it (``--fix``, with ``--unsafe-fixes`` for an unsafe fix)."""

    source: str
    path: str = "train.py"
    fixed: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", _program(self.source))
        if self.fixed is not None:
            object.__setattr__(self, "fixed", _program(self.fixed))


_SECTION = re.compile(r"^(?=## )", re.MULTILINE)
_REASON_SECTIONS = ("## What it does", "## Why is this bad?")


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
    #: The analyses (layers, see ``model/layers.py``) the rule reads from its context, by class:
    #: ``(LeafAnalysis,)``.  What they require comes with them; the import resolver and the
    #: semantic model are always there.
    needs: ClassVar[tuple[type[Layer], ...]] = ()
    #: Syntax-tree features (see ``screen/``) the rule cannot fire without; the engine
    #: skips the libcst parse of a file that lacks them for every enabled rule.
    features: ClassVar[frozenset[str]] = frozenset()
    #: Example programs: the rule's documentation and its generated tests.
    INVALID: ClassVar[tuple[Invalid, ...]] = ()
    VALID: ClassVar[tuple[Valid, ...]] = ()
    #: Programs in ``fixtures/`` that run the rule's claim on runtime and torch: flagged ones
    #: (named after the code) carry its ``# expect:`` marker, ``ok_*`` ones do not.
    fixtures: ClassVar[tuple[str, ...]] = ()

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
        """The docstring's sections with the first INVALID and VALID example after *Why is this
        bad?*, as ruff's rule pages read: what ``--explain`` prints and SARIF carries as help."""
        fix = {None: "no automatic fix", FixSafety.SAFE: "safe fix (--fix)",
               FixSafety.UNSAFE: "unsafe fix (--fix --unsafe-fixes)"}[cls.fix_safety]
        enabled = "enabled by default" if cls.default_enabled else "opt-in (--extend-select)"
        sections = [part.strip() for part in _SECTION.split(inspect.cleandoc(cls.__doc__ or ""))]
        sections = [part for part in sections if part]
        reasons = sum(1 for part in sections if part.startswith(_REASON_SECTIONS))
        if cls.INVALID:
            example = f"## Example\n\n```python\n{cls.INVALID[0].source}```"
            instead = cls.VALID[0].source if cls.VALID else cls.INVALID[0].fixed
            if instead is not None:
                example += f"\n\nUse instead:\n\n```python\n{instead}```"
            sections.insert(reasons, example)
        if cls.fixtures:
            sections.append("## Runnable proof\n\n" + "\n".join(
                f"- fixtures/{name}" for name in cls.fixtures))
        body = "\n\n".join(sections)
        return f"{cls.code} ({cls.name}): {cls.message}\n[{enabled}; {fix}]\n\n{body}\n"

    @classmethod
    def summary(cls) -> str:
        """The first paragraph under *What it does*: one line for tables and SARIF."""
        doc = inspect.cleandoc(cls.__doc__ or cls.message).removeprefix("## What it does")
        return " ".join(doc.strip().split("\n\n")[0].split())
