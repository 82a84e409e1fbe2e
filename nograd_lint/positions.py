"""Line and column of reported nodes, without generating the whole module's code.

libcst knows positions only by generating code for the whole module (``PositionProvider``),
which costs twice a parse.  Findings are few, so this module generates code only for the
statement that holds each finding: the statement's own position comes from the stdlib ``ast``
(a fraction of a libcst parse; the project index keeps it, ``statement_anchors``, for the files
it parsed and screened), matched to libcst's statements by their order, and the node's
place inside it from generating that one statement (just the header of a compound statement).
Anything unusual -- syntax the running Python's ``ast`` cannot read, a statement shape that
does not match -- falls back to ``PositionProvider``.
"""

from __future__ import annotations

import ast
import re
from typing import NamedTuple

from nograd_lint import libcst as cst

from nograd_lint.tree import children

Position = tuple[int, int]  # line (1-based), column (0-based, in characters)
_INDENT = re.compile(r"[ \t\f]*")
_STATEMENT_TYPES: dict[type, bool] = {}  # issubclass of an abstract base, decided once a type


class _Unmatched(Exception):
    """The fast path cannot place a node; use the full position provider."""


class Statements(NamedTuple):
    """libcst's statements in pre-order, and the index of the innermost statement holding
    each node, by the node's ``id`` (hashing libcst nodes calls Python code)."""

    statements: list[cst.CSTNode]
    owner: dict[int, int]


def is_statement(kind: type) -> bool:
    statement = _STATEMENT_TYPES.get(kind)
    if statement is None:
        statement = _STATEMENT_TYPES[kind] = issubclass(
            kind, (cst.BaseSmallStatement, cst.BaseCompoundStatement))
    return statement


class Anchor(NamedTuple):
    """Where a statement of CPython's ``ast`` starts (``statement_anchors``)."""

    kind: str  # its node type's name, without ``Async``
    line: int  # of its first decorator, if it has any
    column: int  # in UTF-8 bytes, as ``col_offset``


def statement_anchors(tree: ast.Module) -> list[Anchor]:
    """Every statement of ``tree``, in pre-order: what libcst's statements are matched to."""
    anchors = []
    for statement in _ast_statements(tree):
        first = getattr(statement, "decorator_list", None)
        anchors.append(Anchor(type(statement).__name__.removeprefix("Async"),
                              first[0].lineno if first else statement.lineno,
                              statement.col_offset))
    return anchors


def locate(module: cst.Module, text: str, anchors: list[Anchor] | None,
           nodes: list[cst.CSTNode],
           statements: Statements | None = None) -> dict[cst.CSTNode, Position]:
    """Positions of ``nodes``; ``anchors`` are the statements of the stdlib ``ast`` of the
    same text, if it parsed; ``statements`` those of ``module``, if a traversal has collected
    them already."""
    try:
        if anchors is None:
            raise _Unmatched
        return _by_statement(module, text, anchors, nodes, statements or _statements(module))
    except (_Unmatched, RecursionError, MemoryError, cst.CSTValidationError):
        return _by_whole_module(module, nodes)


def _by_whole_module(module: cst.Module, nodes: list[cst.CSTNode]) -> dict[cst.CSTNode, Position]:
    from libcst.metadata import MetadataWrapper, PositionProvider  # only when needed: slow import

    try:
        ranges = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    except RecursionError:  # nested too deeply for libcst's recursive code generator
        return {node: (1, 0) for node in nodes}
    return {node: (ranges[node].start.line, ranges[node].start.column) for node in nodes}


def _statements(module: cst.Module) -> Statements:
    statements: list[cst.CSTNode] = []
    owner: dict[int, int] = {}
    nodes: list[cst.CSTNode] = [module]
    owners: list[int] = [-1]  # in step with ``nodes``: the statement around each
    while nodes:
        node, current = nodes.pop(), owners.pop()
        if is_statement(type(node)):
            current = len(statements)
            statements.append(node)
        owner[id(node)] = current
        below = children(node)
        below.reverse()
        nodes += below
        owners += [current] * len(below)
    return Statements(statements, owner)


def _ast_statements(tree: ast.Module) -> list[ast.stmt]:
    found: list[ast.stmt] = []
    stack = list(reversed(tree.body))
    while stack:
        statement = stack.pop()
        found.append(statement)
        nested: list[ast.stmt] = []
        for name in ("body", "handlers", "orelse", "finalbody", "cases"):
            for item in getattr(statement, name, None) or ():
                nested.extend([item] if isinstance(item, ast.stmt) else item.body)
        stack.extend(reversed(nested))
    return found


def _by_statement(module: cst.Module, text: str, ast_statements: list[Anchor],
                  nodes: list[cst.CSTNode], known: Statements) -> dict[cst.CSTNode, Position]:
    # A line of simple statements starts where its first statement does.
    targets = {node: node.body[0] if isinstance(node, cst.SimpleStatementLine) else node
               for node in nodes}
    statements, owner = known
    if len(ast_statements) != len(statements):
        raise _Unmatched
    lines = text.splitlines()
    found: dict[cst.CSTNode, Position] = {}
    generated: dict[int, dict] = {}  # per statement, once however many findings it holds
    for reported, node in targets.items():
        index = owner.get(id(node), -1)
        if index < 0:
            found[reported] = (1, 0)
            continue
        statement, anchor = statements[index], ast_statements[index]
        if anchor.kind != type(statement).__name__:
            raise _Unmatched
        line = anchor.line
        source_line = lines[line - 1]
        column = len(source_line.encode()[:anchor.column].decode("utf-8", "replace"))
        if node is statement:
            found[reported] = (line, column)
            continue
        indent = _INDENT.match(source_line).group()
        if index not in generated:
            generated[index] = _generate(statement, indent, module)
        place = generated[index].get(node)
        if place is None:
            raise _Unmatched
        relative_line, relative_column = place.start.line, place.start.column
        if relative_line == 1:
            relative_column += column - len(indent)  # after a ';' the statement is not at the indent
        found[reported] = (line + relative_line - 1, relative_column)
    return found


def _generate(statement: cst.CSTNode, indent: str, module: cst.Module) -> dict:
    """Ranges of the nodes of ``statement``, generated alone at its real indentation."""
    if isinstance(statement, cst.BaseSmallStatement):
        piece: cst.CSTNode = cst.SimpleStatementLine([statement])
    elif isinstance(statement, (cst.Try, cst.TryStar, cst.Match)):
        piece = statement.with_changes(leading_lines=())
    else:
        header = {"body": cst.IndentedBlock([cst.SimpleStatementLine([cst.Pass()])]),
                  "leading_lines": ()}
        if hasattr(statement, "orelse"):
            header["orelse"] = None
        piece = statement.with_changes(**header)
    # Imported here: libcst.metadata costs start-up time, and most runs have no findings.
    from libcst.metadata.position_provider import PositionProvider, PositionProvidingCodegenState

    provider = PositionProvider()
    state = PositionProvidingCodegenState(module.default_indent, module.default_newline, provider)
    state.indent_tokens.append(indent)
    piece._codegen(state)
    return provider._computed
