"""What every input to the linter must satisfy, and programs that reach the whole analysis.

The engine parses only files that mention torch and a rule's trigger text, so random programs
alone would mostly be skipped unread: :func:`with_triggers` prepends ``import torch`` and puts
trigger-rich statements into the program's blocks.  :func:`check_invariants` is the oracle:

* the engine never raises: every input gives findings, or exactly one NG001;
* the pre-filters skip files but never hide a finding (compared with ``--no-prefilter``);
* the fixed text parses (and compiles whenever the input did), a second ``--fix`` is a no-op,
  and no line outside the statements of fixable findings changes.

``NOGRAD_FUZZ_EXAMPLES`` sets how many inputs each fuzz test tries (default: a quick budget).
"""

from __future__ import annotations

import difflib
import itertools
import os
import re
import tokenize
import warnings
from functools import lru_cache
from unittest import mock

import libcst as cst
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from libcst.metadata import MetadataWrapper, ParentNodeProvider, PositionProvider

from nograd_lint.config import Config
from nograd_lint.engine import analyze
from nograd_lint import fix as fix_module
from nograd_lint.fix import fix_source
from nograd_lint.rule import FixSafety
from tests.fixture_programs import fixture_paths

PATH = "fuzz.py"
CONFIG = Config(extend_select=("NG106",))  # every rule, the opt-in one too
UNFILTERED = CONFIG.merged(prefilter=False)  # and every file parsed, every rule run
PREAMBLE = "import torch\nfrom torch.autograd import Variable\n"

# One statement (or a few) per rule and per fix, each valid wherever a statement may stand.
SNIPPETS = [
    "x = Variable(torch.ones(2), volatile=True)",
    "w = torch.autograd.Variable(torch.zeros(3), requires_grad=True)",
    "v = Variable(a + b, False, True)  # keeps this comment",
    "# a comment that belongs to the next statement\nx.volatile = False",
    "if x.volatile:\n    pass",
    "t.volatile = True; u = t * 2",
    "with torch.no_grad:\n    y = model(x)",
    "with torch.inference_mode as mode, torch.enable_grad:\n    pass",
    "with torch.no_grad(False):\n    pass",
    "torch.set_grad_enabled(False)",
    "def evaluate(model, loader):\n    model.eval()\n    for x, y in loader:\n        print(model(x).argmax(1))",
    "for batch in val_loader:\n    out = model(batch)",
    "with torch.no_grad():\n    loss = model(x).sum()\n    loss.backward()",
    "model.eval()\nlogits = model(batch)",
    "def to_var(x, volatile=False):\n    return Variable(x, volatile=volatile)",
    "h = to_var(x, volatile=True)",
    "def sgd_step(model, lr):\n    for p in model.parameters():\n        p -= lr * p.grad",
    "w = torch.zeros(3, requires_grad=True)\nwith torch.no_grad():\n    w = w - lr * w.grad",
    "model.eval()\nwith torch.no_grad():\n    for x, y in test_loader:\n"
    "        correct += (model(x).argmax(1) == y).sum().item()",
]


def fuzz_settings(quick: int, cost: int = 1):
    """Hypothesis settings: ``quick`` examples in the normal suite; with NOGRAD_FUZZ_EXAMPLES
    set, that many divided by ``cost`` (how many in-process examples one of these is worth)."""
    requested = os.environ.get("NOGRAD_FUZZ_EXAMPLES")
    return settings(
        max_examples=max(quick, int(requested) // cost) if requested else quick,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                               HealthCheck.data_too_large, HealthCheck.large_base_example],
    )


snippets = st.lists(st.sampled_from(SNIPPETS), min_size=1, max_size=4)


def with_triggers(program: str, draw) -> str:
    """``program`` behind the preamble, with snippets put into blocks chosen by ``draw``
    (hypothesis' ``data.draw``), and more appended, so the pre-filter lets it through."""
    tail = "\n".join(draw(snippets))
    try:
        module = cst.parse_module(program)
    except (cst.ParserSyntaxError, RecursionError):
        return f"{PREAMBLE}{program}\n{tail}\n"
    blocks = _Blocks()
    MetadataWrapper(module, unsafe_skip_copy=True).visit(blocks)
    chosen = draw(st.sampled_from(blocks.found)) if blocks.found else None
    if chosen is not None:
        statements = cst.parse_module("\n".join(draw(snippets)) + "\n").body
        position = draw(st.integers(0, len(chosen.body)))
        module = module.visit(_InsertInto(chosen, position, statements))
    return f"{PREAMBLE}{module.code}\n{tail}\n"


class _Blocks(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[cst.IndentedBlock] = []

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self.found.append(node)


class _InsertInto(cst.CSTTransformer):
    def __init__(self, block, position, statements) -> None:
        super().__init__()
        self.block, self.position, self.statements = block, position, statements

    def leave_IndentedBlock(self, original_node, updated_node):
        if original_node is not self.block:
            return updated_node
        body = list(updated_node.body)
        body[self.position:self.position] = self.statements
        return updated_node.with_changes(body=body)


# ------------------------------------------------------------------------ mutated fixtures


@lru_cache(maxsize=None)
def fixture_tokens(name: str) -> tuple[str, tuple[tuple[int, int, str], ...], tuple[int, ...]]:
    """A fixture's text, its non-empty tokens as (start, end, kind) character offsets, and the
    offset where each line starts."""
    text = next(p for p in fixture_paths() if p.name == name).read_text()
    starts = [0, *itertools.accumulate(len(line) for line in text.splitlines(keepends=True))]
    tokens = []
    for token in tokenize.generate_tokens(iter(text.splitlines(keepends=True)).__next__):
        begin = starts[token.start[0] - 1] + token.start[1]
        end = starts[token.end[0] - 1] + token.end[1]
        if end > begin:
            tokens.append((begin, end, tokenize.tok_name[token.type]))
    return text, tuple(tokens), tuple(starts[:-1])


_INDENT = re.compile(r"[ \t]*")
mutation = st.tuples(st.sampled_from(["delete", "duplicate", "indent", "dedent"]),
                     st.integers(0, 1 << 16), st.sampled_from([" ", "  ", "    ", "\t"]))
mutated_fixture = st.tuples(st.sampled_from([p.name for p in fixture_paths()]),
                            st.lists(mutation, min_size=1, max_size=4))


def mutate(name: str, mutations: list[tuple[str, int, str]]) -> str:
    """The fixture with tokens deleted or duplicated and line indentation changed."""
    text, tokens, line_starts = fixture_tokens(name)
    edits = []
    for kind, pick, whitespace in mutations:
        if kind in ("delete", "duplicate"):
            begin, end, _ = tokens[pick % len(tokens)]
            edits.append((begin, end, "" if kind == "delete" else text[begin:end] * 2))
        else:
            begin = line_starts[pick % len(line_starts)]
            if kind == "indent":
                edits.append((begin, begin, whitespace))
            else:
                indent = _INDENT.match(text, begin).end() - begin
                edits.append((begin, begin + min(indent, len(whitespace)), ""))
    # Applied from the end, so earlier offsets stay valid; an edit overlapping one already
    # applied is dropped.
    result, limit = text, len(text)
    for begin, end, replacement in sorted(edits, reverse=True):
        if end <= limit:
            result = result[:begin] + replacement + result[end:]
            limit = begin
    return result


# ---------------------------------------------------------------------------- invariants


def check_invariants(source: str | bytes) -> list[str]:
    """Lint and fix ``source`` in process, asserting every invariant; returns the codes found."""
    full = analyze(source, PATH, UNFILTERED)
    codes = [finding.code for finding in full.findings]
    if "NG001" in codes:
        # A parse error is the only finding, unless legacy repairs let the file be checked.
        legacy = any(f.code == "NG001" and "legacy syntax" in f.message for f in full.findings)
        assert codes == ["NG001"] or legacy, f"a parse error must be the only finding, got {codes}"
        assert full.module is None, "a file reported as unparsed must never be fixed"
    else:
        assert full.module is not None, "a file was neither analysed nor reported"
    analysis = analyze(source, PATH, CONFIG)
    # The pre-filters may skip a file (even a broken one), never hide a finding.
    assert _places(analysis.findings, skip="NG001") == _places(full.findings, skip="NG001")
    assert set(_places(analysis.findings)) <= set(_places(full.findings))
    if analysis.module is None:
        assert fix_source(source, PATH, CONFIG).source == source, "an unparsed file was changed"
        return codes
    for unsafe in (False, True):
        _check_fix(source, analysis, unsafe)
    return codes


def _places(findings, skip: str = "") -> list[tuple[int, int, str]]:
    return [(f.line, f.column, f.code) for f in findings if f.code != skip]


def _check_fix(source, analysis, unsafe: bool) -> None:
    result = fix_source(source, PATH, CONFIG, unsafe=unsafe)
    fixed = result.source
    if result.error is not None:
        # The one refusal allowed: libcst cannot write this file back exactly.
        assert "does not reproduce this file exactly" in result.error, result.error
        rendered = analysis.module.bytes if isinstance(source, bytes) else analysis.module.code
        assert rendered != source and fixed == source
        return
    assert type(fixed) is type(source)
    if _compiles(source):
        assert _compiles(fixed), "the fix turned a compiling program into one that does not"
    assert parses(fixed)
    assert fix_source(fixed, PATH, CONFIG, unsafe=unsafe).source == fixed, "second --fix changed it"
    _check_each_pass(source, analysis, fixed, unsafe)


def _check_each_pass(source, analysis, fixed, unsafe: bool) -> None:
    """Replays the fixer one pass at a time: each pass changes only the statements of the
    fixable findings it starts from.  (A fix can make a new finding, e.g. removing the
    statement that kept NG106 from a block: the next pass fixes it, so that a second --fix
    has nothing left to do.)"""
    current, passes = source, fix_module.MAX_PASSES
    with mock.patch.object(fix_module, "MAX_PASSES", 1):
        for _ in range(passes):
            fixable = [f for f in analysis.findings
                       if f.fix is not None and (unsafe or f.fix.safety is FixSafety.SAFE)]
            after = fix_source(current, PATH, CONFIG, unsafe=unsafe).source
            if not fixable or after == current:
                assert after == current, "nothing was fixable, yet the text changed"
                break
            flagged = _flagged_lines(analysis.module, [f.fix.target for f in fixable],
                                     [f.line for f in fixable]) | _import_lines(analysis.module)
            assert_only_flagged_lines_changed(_text_lines(current, analysis.module),
                                              _text_lines(after, analysis.module), flagged)
            current = after
            analysis = analyze(current, PATH, CONFIG)
    assert current == fixed, "the passes replayed one by one end elsewhere than --fix"


def _text_lines(source: str | bytes, module: cst.Module) -> list[str]:
    text = source.decode(module.encoding) if isinstance(source, bytes) else source
    # Python's (and libcst's) line ends only: str.splitlines would also split at \f, \x1c...
    return re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)


def _compiles(source: str | bytes) -> bool:
    try:
        with warnings.catch_warnings():  # generated code is full of "x is not callable"
            warnings.simplefilter("ignore")
            compile(source, PATH, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _import_lines(module: cst.Module) -> set[int]:
    """0-based numbers of the lines of import statements: fixes drop the imports they leave
    unused (cleanup.py)."""
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    return {line for node, place in positions.items()
            if isinstance(node, cst.SimpleStatementLine)
            and any(isinstance(small, (cst.Import, cst.ImportFrom)) for small in node.body)
            for line in range(place.start.line - 1, place.end.line)}


def _flagged_lines(module: cst.Module, targets: list[cst.CSTNode], lines: list[int]) -> set[int]:
    """0-based numbers of the lines a fix may change: the statements of the findings (their
    1-based ``lines``: a fix may take several passes, the later ones on the finding's own
    statement) and of the fixes' targets (a fix may edit another statement, e.g. an import):
    a target's simple statement line, a compound statement whole, or the header expression
    itself."""
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    parents = wrapper.resolve(ParentNodeProvider)
    flagged: set[int] = set()
    for target in targets:
        node = target
        while not isinstance(node, (cst.SimpleStatementLine, cst.SimpleStatementSuite,
                                    cst.BaseCompoundStatement, cst.Module)):
            node = parents[node]
        if isinstance(node, (cst.BaseCompoundStatement, cst.Module)) and node is not target:
            node = target  # an expression in a compound statement's header
        place = positions[node]
        flagged.update(range(place.start.line - 1, place.end.line))
    for line in lines:
        flagged.add(line - 1)
        for node, place in positions.items():
            if (isinstance(node, (cst.SimpleStatementLine, cst.SimpleStatementSuite))
                    and place.start.line <= line <= place.end.line):
                flagged.update(range(place.start.line - 1, place.end.line))
    return flagged


def assert_only_flagged_lines_changed(before: list[str], after: list[str], flagged: set[int]) -> None:
    """``after`` must be ``before`` with only the flagged runs of lines replaced: the unflagged
    runs appear in order, the first at the start and the last at the end.  (Matching each run
    at its earliest place is optimal for an ordered sequence of blocks.)"""
    runs = [(is_flagged, [before[i] for i in group]) for is_flagged, group in
            itertools.groupby(range(len(before)), key=lambda i: i in flagged)]
    position = 0
    for index, (is_flagged, lines) in enumerate(runs):
        if is_flagged:
            continue
        first, last = index == 0, index == len(runs) - 1
        if last:
            at = len(after) - len(lines)
            found = at >= position and after[at:] == lines
        elif first:
            at, found = 0, after[:len(lines)] == lines
        else:
            at = next((i for i in range(position, len(after) - len(lines) + 1)
                       if after[i:i + len(lines)] == lines), -1)
            found = at >= 0
        assert found, ("a fix changed lines outside the flagged statements (0-based "
                       f"{sorted(flagged)}):\n" + "".join(difflib.unified_diff(before, after)))
        position = at + len(lines)


def parses(source: str | bytes) -> bool:
    """Whether libcst can parse ``source`` (what the linter and the fixer work on)."""
    try:
        cst.parse_module(source)
    except (cst.ParserSyntaxError, RecursionError, UnicodeError, LookupError, SyntaxError, ValueError):
        return False
    return True
