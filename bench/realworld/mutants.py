"""Guard-removal mutants: NG201/NG203 recall on real code.

    python bench/realworld/mutants.py [--mutants bench/realworld/ng2_mutants.csv] \\
        [--mirrors /work/.mirror] [--cache /tmp/nograd-realworld] [--repo OWNER/NAME]

Each row of the mutants file names a grad-mode guard in a real repository and what removing
it breaks; the code itself comes from the repository's mirror (see ``corpus.py``)::

    repo,commit,path,line,mutation,expected,note

``mutation`` is one of

* ``unwrap-with``: the ``with torch.no_grad():`` (or ``inference_mode()``) statement at
  ``line`` goes, its body dedented into the enclosing block;
* ``drop-decorator``: the ``@torch.no_grad()`` (or ``@torch.inference_mode()``) decorator at
  ``line`` goes;
* ``rebind``: the augmented assignment ``x op= value`` at ``line`` (under a guard) becomes the
  rebinding ``x = x op (value)``, the classic manual-SGD slip.

``expected`` lists, space-separated, the findings the linter must then report, as
``LINE:CODE:SHAPE``.  ``LINE`` is the statement's line in the *original* file, so the CSV reads
against the repository as published (the script maps it through the mutation); ``SHAPE`` says
how the updated tensor reaches the statement (``SHAPES`` below), so that misses can be grouped.
An ``NG201`` is an in-place update of a parameter or other leaf that requires grad, which the
mutant makes raise "a leaf Variable that requires grad is being used in an in-place
operation"; an ``NG203`` a rebinding under ``no_grad`` that loses the update.

For every mutant the script copies the repository's export to a scratch directory, applies
the mutation to that copy only, lints the whole copy with ``--select NG201,NG203``, and counts
each expected finding as found or missed.  Findings in the mutated file that are neither
expected nor reported on the unmutated file are listed as *unexpected*: read them, and either
add them to ``expected`` or treat them as false positives.  Exits 1 when a mutant cannot be
applied (the guard is not where the row says).
"""

from __future__ import annotations

import argparse
import ast
import csv
import io
import re
import shutil
import sys
import tempfile
import tokenize
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import HERE, export, lint  # noqa: E402

RULES = ("NG201", "NG203")
SHAPES = {
    "local-layer": "a layer made, or iterated over (.modules(), apply), in the same function",
    "parameters-loop": "the loop variable over <module>.parameters() in the same function",
    "group-params": "the loop variable over an optimizer's group['params']",
    "requires-grad": "a tensor made with requires_grad=True or an nn.Parameter, in scope",
    "attribute-chain": "<module>.<...>.weight of a module the function does not build",
    "registered": "self.<name>, registered as a layer or nn.Parameter in __init__",
    "factory": "a module from a factory: functools.partial, create_model, deepcopy...",
    "annotation": "a function parameter annotated as a module or parameter",
    "unpacking": "a name unpacked from zip()/enumerate() over parameter iterables",
    "caller-provided": "a function parameter bound to parameters by its callers",
    "functional": "a functional in-place form: F.relu_(p), torch._foreach_add_(ps), out=p",
}


class MutationError(ValueError):
    """The mutation does not apply where its row says."""


@dataclass(frozen=True)
class Mutant:
    repo: str
    commit: str
    path: str
    line: int
    mutation: str
    expected: tuple[tuple[int, str, str], ...]  # (original line, code, shape)
    note: str


@dataclass(frozen=True)
class Mutated:
    """A mutated source and the original lines it deleted (the rest keep their order)."""

    source: str
    removed: frozenset[int] = frozenset()

    def line(self, original: int) -> int:
        """Where an original (kept) line is in the mutated source."""
        if original in self.removed:
            raise MutationError(f"line {original} is deleted by the mutation")
        return original - sum(1 for removed in self.removed if removed < original)

    def original_line(self, mutated: int) -> int:
        return next(line for line in range(mutated, mutated + len(self.removed) + 1)
                    if line not in self.removed and self.line(line) == mutated)


# --------------------------------------------------------------------------------- mutations


def _guard_name(expression: ast.expr) -> str:
    return expression.attr if isinstance(expression, ast.Attribute) \
        else getattr(expression, "id", "")


def _is_guard(expression: ast.expr, *, bare: bool = False) -> bool:
    """``torch.no_grad()``, ``no_grad()``, ``torch.inference_mode()`` (or ``(True)``); with
    ``bare``, the uncalled ``torch.no_grad`` too (a decorator may be written so)."""
    if bare and _guard_name(expression) in ("no_grad", "inference_mode"):
        return True
    if not isinstance(expression, ast.Call):
        return False
    arguments = [*expression.args, *(keyword.value for keyword in expression.keywords)]
    return _guard_name(expression.func) in ("no_grad", "inference_mode") and all(
        isinstance(argument, ast.Constant) and argument.value is True for argument in arguments)


def _char(line: str, utf8_offset: int) -> int:
    """ast's byte column as an index into the line's characters."""
    return len(line.encode()[:utf8_offset].decode())


def _string_continuation_lines(source: str) -> set[int]:
    """Lines that lie inside a multi-line string literal (after its first line): their text
    is the string's, not indentation."""
    inside = set()
    string_tokens = {tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in string_tokens and token.end[0] > token.start[0]:
            inside.update(range(token.start[0] + 1, token.end[0] + 1))
    return inside


def _header_colon(source: str, after: tuple[int, int]) -> tuple[int, int]:
    """(line, character column) of the first ':' token after ``after`` (line, character
    column): the colon ending a compound statement's header."""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.OP and token.string == ":" and token.start >= after:
            return token.start
    raise MutationError("no ':' after the context manager")


def _statement_at(tree: ast.AST, line: int, kinds: tuple[type, ...]) -> ast.stmt | None:
    return next((node for node in ast.walk(tree) if isinstance(node, kinds)
                 and node.lineno == line), None)


def _parse(source: str) -> ast.Module:
    try:
        return ast.parse(source)
    except SyntaxError as error:
        raise MutationError(f"the source does not parse: {error.msg} (line {error.lineno})") \
            from None


def _checked(mutated: Mutated) -> Mutated:
    try:
        ast.parse(mutated.source)
    except SyntaxError as error:  # a bug in the mutation, never in the input
        raise AssertionError(f"mutated source does not parse: {error}") from error
    return mutated


def unwrap_with(source: str, line: int) -> Mutated:
    """Remove the ``with torch.no_grad():`` statement at ``line``, its body dedented into the
    enclosing block (or, for a body on the header's line, put in the header's place)."""
    tree = _parse(source)
    node = _statement_at(tree, line, (ast.With, ast.AsyncWith))
    if node is None:
        raise MutationError(f"line {line}: no 'with' statement starts here")
    if not any(_is_guard(item.context_expr) for item in node.items):
        raise MutationError(f"line {line}: not a 'with torch.no_grad():' or inference_mode block")
    if len(node.items) > 1 or node.items[0].optional_vars is not None:
        raise MutationError(f"line {line}: only a lone 'with torch.no_grad():' can be unwrapped")
    lines = source.splitlines(keepends=True)
    guard = node.items[0].context_expr
    guard_end = (guard.end_lineno, _char(lines[guard.end_lineno - 1], guard.end_col_offset))
    colon_line, colon_column = _header_colon(source, guard_end)
    first = node.body[0]
    with_line = lines[line - 1]
    with_column = _char(with_line, node.col_offset)
    if first.lineno == colon_line:  # with torch.no_grad(): statement
        body_text = lines[colon_line - 1][_char(lines[colon_line - 1], first.col_offset):]
        lines[colon_line - 1] = with_line[:with_column] + body_text
        removed = frozenset(range(line, colon_line))
        kept = [text for number, text in enumerate(lines, 1) if number not in removed]
        return _checked(Mutated("".join(kept), removed))
    with_indent = with_line[:with_column]
    body_indent = lines[first.lineno - 1][:_char(lines[first.lineno - 1], first.col_offset)]
    if not body_indent.startswith(with_indent) or body_indent.strip():
        raise MutationError(f"line {line}: the body's indentation does not extend the header's")
    in_strings = _string_continuation_lines(source)
    for number in range(colon_line + 1, node.end_lineno + 1):
        text = lines[number - 1]
        if number not in in_strings and text.startswith(body_indent):
            lines[number - 1] = with_indent + text[len(body_indent):]
    removed = frozenset(range(line, colon_line + 1))
    kept = [text for number, text in enumerate(lines, 1) if number not in removed]
    return _checked(Mutated("".join(kept), removed))


def drop_decorator(source: str, line: int) -> Mutated:
    """Remove the ``@torch.no_grad()`` (or ``@torch.inference_mode()``) decorator at ``line``."""
    tree = _parse(source)
    for node in ast.walk(tree):
        for decorator in getattr(node, "decorator_list", ()):
            if decorator.lineno == line:
                if not _is_guard(decorator, bare=True):
                    raise MutationError(f"line {line}: not a @torch.no_grad() decorator")
                removed = frozenset(range(decorator.lineno, decorator.end_lineno + 1))
                kept = [text for number, text in enumerate(source.splitlines(keepends=True), 1)
                        if number not in removed]
                return _checked(Mutated("".join(kept), removed))
    raise MutationError(f"line {line}: no decorator starts here")


_AUGMENTED = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
              ast.Mod: "%", ast.Pow: "**", ast.MatMult: "@"}


def rebind(source: str, line: int) -> Mutated:
    """Turn the augmented assignment ``x op= value`` at ``line`` into ``x = x op (value)``."""
    tree = _parse(source)
    node = _statement_at(tree, line, (ast.AugAssign,))
    if node is None or not isinstance(node.target, ast.Name) or type(node.op) not in _AUGMENTED:
        raise MutationError(f"line {line}: no 'name op= value' statement starts here")
    lines = source.splitlines(keepends=True)
    if node.end_lineno != line:
        raise MutationError(f"line {line}: only a one-line augmented assignment is rebound")
    text = lines[line - 1]
    start, end = _char(text, node.col_offset), _char(text, node.end_col_offset)
    value = text[_char(text, node.value.col_offset):_char(text, node.value.end_col_offset)]
    name = node.target.id
    lines[line - 1] = (text[:start] + f"{name} = {name} {_AUGMENTED[type(node.op)]} ({value})"
                       + text[end:])
    return _checked(Mutated("".join(lines)))


MUTATIONS = {"unwrap-with": unwrap_with, "drop-decorator": drop_decorator, "rebind": rebind}


# ---------------------------------------------------------------------------------- the corpus


_EXPECTED = re.compile(r"(\d+):(NG\d{3}):([a-z-]+)")


def read_mutants(path: Path) -> list[Mutant]:
    with path.open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle, skipinitialspace=True)
                if not row["repo"].startswith("#")]
    mutants = []
    for row in rows:
        where = f"{path}: {row['repo']} {row['path']}:{row['line']}"
        if row["mutation"] not in MUTATIONS:
            raise ValueError(f"{where}: mutation must be one of {sorted(MUTATIONS)}")
        expected = []
        for item in row["expected"].split():
            match = _EXPECTED.fullmatch(item)
            if match is None or match[2] not in RULES or match[3] not in SHAPES:
                raise ValueError(f"{where}: expected item {item!r} is not LINE:CODE:SHAPE with "
                                 f"CODE in {RULES} and SHAPE in {sorted(SHAPES)}")
            expected.append((int(match[1]), match[2], match[3]))
        if not expected:
            raise ValueError(f"{where}: a mutant must expect at least one finding")
        mutants.append(Mutant(row["repo"], row["commit"], row["path"], int(row["line"]),
                              row["mutation"], tuple(expected), row["note"]))
    return mutants


@dataclass
class Outcome:
    mutant: Mutant
    found: list[tuple[int, str, str]]
    missed: list[tuple[int, str, str]]
    unexpected: list[str]  # findings in the mutated file, at original lines


def run(mutants: list[Mutant], mirrors: Path, cache: Path) -> list[Outcome]:
    select = ("--select", ",".join(RULES))
    outcomes = []
    by_repository = defaultdict(list)
    for mutant in mutants:
        by_repository[(mutant.repo, mutant.commit)].append(mutant)
    for (repo, commit), group in sorted(by_repository.items()):
        exported = export(repo, commit, mirrors, cache)
        before = {(finding["path"], finding["line"], finding["code"])
                  for finding in lint(exported, *select)}
        with tempfile.TemporaryDirectory(prefix="nograd-mutant-") as scratch:
            copy = Path(scratch) / exported.name
            shutil.copytree(exported, copy)
            for mutant in group:
                target = copy / mutant.path
                original = target.read_text(encoding="utf-8")
                try:
                    mutated = MUTATIONS[mutant.mutation](original, mutant.line)
                    for line, _, _ in mutant.expected:
                        mutated.line(line)  # an expected line the mutation deletes is an error
                except MutationError as error:
                    raise MutationError(f"{repo} {mutant.path}: {error}") from None
                target.write_text(mutated.source, encoding="utf-8")
                try:
                    findings = lint(copy, *select)
                finally:
                    target.write_text(original, encoding="utf-8")
                reported = {(mutated.original_line(finding["line"]), finding["code"])
                            for finding in findings if finding["path"] == mutant.path}
                wanted = {(line, code) for line, code, _ in mutant.expected}
                outcomes.append(Outcome(
                    mutant,
                    found=[item for item in mutant.expected if item[:2] in reported],
                    missed=[item for item in mutant.expected if item[:2] not in reported],
                    unexpected=[f"{line}:{code}" for line, code in sorted(reported - wanted)
                                if (mutant.path, line, code) not in before]))
    return outcomes


def report(outcomes: list[Outcome]) -> None:
    counts: dict[str, Counter] = defaultdict(Counter)
    missed_by_shape: dict[str, dict[tuple[Mutant, str], list[int]]] = defaultdict(dict)
    for outcome in outcomes:
        for _, code, shape in outcome.found:
            counts[code]["found"] += 1
            counts[shape]["found"] += 1
        for line, code, shape in outcome.missed:
            counts[code]["missed"] += 1
            counts[shape]["missed"] += 1
            missed_by_shape[shape].setdefault((outcome.mutant, code), []).append(line)
    whole = sum(1 for outcome in outcomes if not outcome.missed)
    print(f"{len(outcomes)} mutants in {len({o.mutant.repo for o in outcomes})} repositories; "
          f"{whole} with every expected finding reported\n")
    print(f"{'rule':6} {'found':>5} {'missed':>6}  recall")
    for code in RULES:
        c = counts[code]
        total = c["found"] + c["missed"]
        recall = f"{c['found'] / total:6.0%}" if total else "     -"
        print(f"{code:6} {c['found']:5} {c['missed']:6}  {recall}")
    shapes = [shape for shape in SHAPES if counts[shape]]
    print(f"\n{'shape':16} {'found':>5} {'missed':>6}")
    for shape in shapes:
        print(f"{shape:16} {counts[shape]['found']:5} {counts[shape]['missed']:6}")
    if missed_by_shape:
        print("\nmissed, by shape:")
    for shape, by_mutant in sorted(missed_by_shape.items(),
                                   key=lambda item: -sum(map(len, item[1].values()))):
        c = counts[shape]
        print(f"  {shape}: {c['missed']} of {c['found'] + c['missed']} findings missed, in "
              f"{len(by_mutant)} mutants ({SHAPES[shape]})")
        for (mutant, code), lines in by_mutant.items():
            print(f"    {mutant.repo} {mutant.path}:{','.join(map(str, lines))} {code} "
                  f"({mutant.mutation} {mutant.line}): {mutant.note}")
    unexpected = [f"{o.mutant.repo} {o.mutant.path} ({o.mutant.mutation} {o.mutant.line}): "
                  + " ".join(o.unexpected) for o in outcomes if o.unexpected]
    if unexpected:
        print(f"\nunexpected findings in mutated files ({len(unexpected)}):\n  "
              + "\n  ".join(unexpected))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mutants", type=Path, default=HERE / "ng2_mutants.csv")
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/nograd-realworld"))
    parser.add_argument("--repo", help="only the mutants of this repository (owner/name)")
    args = parser.parse_args(argv)
    try:
        mutants = [mutant for mutant in read_mutants(args.mutants)
                   if args.repo in (None, mutant.repo)]
        outcomes = run(mutants, args.mirrors, args.cache)
    except (OSError, ValueError) as error:  # MutationError is a ValueError
        print(f"mutants.py: {error}", file=sys.stderr)
        return 1
    report(outcomes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
