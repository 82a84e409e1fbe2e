"""Hostile files, through the ``nograd-lint`` command: each one is reported (a finding or an
error line, never a traceback, a hang or a crash) and the other files of the same run are
still linted.

Every file carries the fixtures' trigger text, so it reaches the full analysis instead of being
skipped by the textual pre-filter.
"""

from __future__ import annotations

import os
import random
import re
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

TRIGGER = b"import torch\nfrom torch.autograd import Variable\nx = Variable(torch.ones(2), volatile=True)\n"
TIMEOUT = 120


def run(*args: str | os.PathLike, cwd: Path, stdin: bytes | None = None,
        **options) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "nograd_lint", *map(str, args)], cwd=cwd,
                          input=stdin, capture_output=True, timeout=TIMEOUT, **options)
    assert b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")
    return done


def _big_file() -> bytes:
    # 5 MB whose bulk is one string literal (data or documentation, as generated files have):
    # libcst spends ~20 us on every line of code, comment or blank, so 5 MB of short lines
    # would turn this test into a minutes-long benchmark.  Findings at both ends.
    bulk = b'"""\n' + (b"generated " * 7 + b"\n") * 71_500 + b'"""\n'
    return TRIGGER + bulk + b"y = Variable(torch.zeros(1), volatile=False)\n"


def _binary() -> bytes:
    noise = random.Random(8).randbytes(4096)
    return noise[:2048] + TRIGGER + noise[2048:]


# name -> (content, expected text-format lines for it: (line, column, code) or an NG001 message part)
HOSTILE: dict[str, tuple[bytes, list]] = {
    "syntax_error.py": (TRIGGER + b"def f(:\n    pass\n", [(4, None, "NG001")]),
    # Linted after repairs (legacy.py): the findings above the print statement, and a notice.
    "python2.py": (TRIGGER + b'print "hello"\n', [(3, 5, "NG301"), (3, 5, "NG303"),
                                                  (4, 1, "NG001", "print statements (line 4)")]),
    "latin1_without_cookie.py": (TRIGGER + b"s = '\xe9t\xe9'\n",
                                 [(4, None, "NG001", "can't decode byte 0xe9")]),
    "latin1_with_cookie.py": (b"# -*- coding: latin-1 -*-\n" + TRIGGER + b"s = '\xe9t\xe9'\n",
                              [(4, 5, "NG301"), (4, 5, "NG303")]),
    "unknown_cookie.py": (b"# -*- coding: klingon -*-\n" + TRIGGER, [(1, None, "NG001", "klingon")]),
    "utf8_bom.py": (b"\xef\xbb\xbf" + TRIGGER, [(3, 5, "NG301"), (3, 5, "NG303")]),
    "crlf.py": (TRIGGER.replace(b"\n", b"\r\n"), [(3, 5, "NG301"), (3, 5, "NG303")]),
    "mixed_endings.py": (b"import torch\r\nfrom torch.autograd import Variable\ry = 1\n"
                         b"x = Variable(torch.ones(2), volatile=True)\r\n",
                         [(4, 5, "NG301"), (4, 5, "NG303")]),
    "tabs.py": (TRIGGER.replace(b"x = ", b"if True:\n\tx = "), [(4, 6, "NG301"), (4, 6, "NG303")]),
    "nul_byte.py": (TRIGGER + b"y = 1\x00\n", [(1, None, "NG001", "null bytes")]),
    "binary.py": (_binary(), [(None, None, "NG001")]),
    "empty.py": (b"", []),
    "nested_500_deep.py": (TRIGGER + b"y = " + b"(" * 500 + b"1" + b")" * 500 + b"\n",
                           [(1, None, "NG001", "nested too deeply")]),
    # libcst nests 'and' chains one level per operand and its native parser segfaults at about
    # 7,500; CPython keeps them flat, so only the engine's own guard stands in the way.
    "long_boolean_chain.py": (TRIGGER + b"y = " + b" and ".join([b"a"] * 20_000) + b"\n",
                              [(1, None, "NG001", "nested too deeply")]),
    # On a file CPython rejects, libcst's error recovery is quadratic in a long operator chain
    # (minutes for this one): the parse error comes from CPython alone.
    "long_chain_then_syntax_error.py": (TRIGGER + b"y = " + b"+".join([b"a"] * 5000)
                                        + b"\ndef f(:\n", [(5, None, "NG001")]),
    # One position per finding used to regenerate the whole statement: quadratic.
    "many_findings_in_one_statement.py": (b"import torch\nwith " + b", ".join([b"torch.no_grad"] * 1500)
                                          + b":\n    pass\n", [(2, None, "NG102")] * 1500),
    "big.py": (_big_file(), [(3, 5, "NG301"), (3, 5, "NG303"), (None, 5, "NG301"), (None, 5, "NG303")]),
}


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """One run over a directory of every hostile file, a healthy file, symbolic link loops,
    an unreadable file, a FIFO and a directory named like a module, plus a missing path."""
    root = tmp_path_factory.mktemp("hostile")
    for name, (content, _) in HOSTILE.items():
        (root / name).write_bytes(content)
    (root / "healthy.py").write_bytes(TRIGGER)
    (root / "sub").mkdir()
    (root / "sub" / "inner.py").write_bytes(TRIGGER)
    (root / "sub" / "loop").symlink_to("..", target_is_directory=True)
    (root / "self_loop.py").symlink_to("self_loop.py")
    (root / "dir_named.py").mkdir()
    (root / "dir_named.py" / "module.py").write_bytes(TRIGGER)
    os.mkfifo(root / "pipe.py")  # opening it for reading would block forever
    if sys.platform == "linux":
        # Unreadable even for root (the tests may run as root, where chmod 000 is no bar):
        # reading the process's memory from offset 0 fails with EIO.
        (root / "unreadable.py").symlink_to("/proc/self/mem")
    # No size limit: big.py is here to show that a 5 MB file is analysed whole when asked.
    done = run("--jobs", "2", "--max-file-size", "0", ".", "missing.py", cwd=root)
    return root, done, done.stdout.decode().splitlines(), done.stderr.decode()


def _lines_for(lines: list[str], name: str) -> list[str]:
    return [line for line in lines if line.startswith(f"./{name}:")]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_hostile_file_is_reported_as_expected(hostile_run, name):
    _, _, lines, _ = hostile_run
    got = _lines_for(lines, name)
    expected = HOSTILE[name][1]
    assert len(got) == len(expected), got[:5]
    for line, (number, column, code, *message) in zip(got, expected):
        match = re.match(rf"\./{re.escape(name)}:(\d+):(\d+): (NG\d+) (.*)", line)
        assert match, line
        assert match[3] == code, line
        assert number is None or int(match[1]) == number, line
        assert column is None or int(match[2]) == column, line
        assert not message or message[0] in match[4], line


def test_the_rest_of_the_run_goes_on(hostile_run):
    _, done, lines, stderr = hostile_run
    assert done.returncode == 1
    for name in ("healthy.py", "sub/inner.py", "dir_named.py/module.py"):
        assert [line.split()[1] for line in _lines_for(lines, name)] == ["NG301", "NG303"], name
    big = _lines_for(lines, "big.py")
    assert int(big[-1].split(":")[1]) == HOSTILE["big.py"][0].count(b"\n")


def test_unusable_paths_are_error_lines(hostile_run):
    _, _, lines, stderr = hostile_run
    errors = stderr.splitlines()
    assert all(line.startswith("nograd-lint: error: ") for line in errors), errors
    assert "nograd-lint: error: missing.py: no such file or directory" in errors
    assert any(line.startswith("nograd-lint: error: ./self_loop.py: cannot read: Too many levels "
                               "of symbolic links") for line in errors)
    if sys.platform == "linux":
        assert any("./unreadable.py: cannot read: Input/output error" in line for line in errors)
    # The directory link loop is not followed, the FIFO and the directory named x.py are not
    # read as files: none of them is an error, and the file behind the loop is linted once.
    assert not any(word in stderr for word in ("loop/", "pipe.py", "dir_named.py"))
    assert len(_lines_for(lines, "sub/inner.py")) == 2


def test_permission_denied_is_an_error_line_and_exit_2_only_when_nothing_was_linted(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("running as root: chmod 000 does not stop root from reading (the EIO "
                    "case of the hostile run covers an unreadable file)")
    locked = tmp_path / "locked.py"
    locked.write_bytes(TRIGGER)
    locked.chmod(0)
    alone = run("locked.py", cwd=tmp_path)
    assert alone.returncode == 2 and b"locked.py: cannot read: Permission denied" in alone.stderr
    (tmp_path / "healthy.py").write_bytes(TRIGGER)
    both = run("locked.py", "healthy.py", cwd=tmp_path)
    assert both.returncode == 1 and b"healthy.py:3:5: NG301" in both.stdout


def test_only_unusable_paths_exit_2(tmp_path):
    (tmp_path / "self_loop.py").symlink_to("self_loop.py")
    done = run("self_loop.py", "missing.py", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == b""


def test_hostile_standard_input(tmp_path):
    done = run("-", cwd=tmp_path, stdin=b"\x00\xff\xfe" + TRIGGER)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith(b"<stdin>:1:1: NG001 ") and lines[1:] == [b"Found 1 finding (0 fixable with --fix)."]


# --------------------------------------------------------------------------------- --fix

FIXED = b"import torch\nx = torch.ones(2)\n"  # the Variable import, left unused, goes too
# name -> (content, the file after --fix, or None: left exactly as it was)
TO_FIX: dict[str, tuple[bytes, bytes | None]] = {
    "latin1_with_cookie.py": (HOSTILE["latin1_with_cookie.py"][0],
                              b"# -*- coding: latin-1 -*-\n" + FIXED + b"s = '\xe9t\xe9'\n"),
    "utf8_bom.py": (HOSTILE["utf8_bom.py"][0], b"\xef\xbb\xbf" + FIXED),
    "crlf.py": (HOSTILE["crlf.py"][0], FIXED.replace(b"\n", b"\r\n")),
    "mixed_endings.py": (HOSTILE["mixed_endings.py"][0],
                         b"import torch\r\ny = 1\nx = torch.ones(2)\r\n"),
    "tabs.py": (HOSTILE["tabs.py"][0], FIXED.replace(b"x = ", b"if True:\n\tx = ")),
    # libcst loses blank lines before a whitespace-only last line: set aside and put back.
    "trailing_blank_lines.py": (TRIGGER + b"\n   \n# end\n\t\n", FIXED + b"\n   \n# end\n\t\n"),
    # libcst drops a form feed at the start of a line: fixing would change that other line.
    "form_feed.py": (TRIGGER + b"\x0cy = 1\n", None),
    # Found by fuzzing: a removed statement took the comment lines above it along...
    "comments_above_removed_statements.py": (
        b"import torch\ndef f(x):\n    # why\n    x.volatile = True\n    return x\n"
        b"if x:\n    # only one\n    x.volatile = False\n",
        b"import torch\ndef f(x):\n    # why\n    return x\nif x:\n    # only one\n    pass\n"),
    # ... or left a dangling ';' behind ...
    "semicolons.py": (b"import torch\nfrom torch.autograd import Variable\n"
                      b"x = Variable(y, volatile=True); x.volatile = False  # note\n",
                      b"import torch\nx = y  # note\n"),
    # ... and volatile passed by position escaped the textual pre-filter.
    "positional_volatile.py": (b"import torch\nfrom torch.autograd import Variable\n"
                               b"x = Variable(y, False, True)\n", FIXED.replace(b"torch.ones(2)", b"y")),
    **{name: (HOSTILE[name][0], None) for name in (
        "syntax_error.py", "python2.py", "latin1_without_cookie.py", "nul_byte.py", "binary.py")},
}


@pytest.fixture(scope="module")
def fix_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("fix")
    for name, (content, _) in TO_FIX.items():
        (root / name).write_bytes(content)
    done = run("--fix", ".", cwd=root)
    return root, done, done.stdout.decode().splitlines(), done.stderr.decode()


@pytest.mark.parametrize("name", sorted(TO_FIX))
def test_fix_keeps_everything_but_the_fixed_code_or_leaves_the_file_alone(fix_run, name):
    root, _, lines, stderr = fix_run
    content, fixed = TO_FIX[name]
    assert (root / name).read_bytes() == (content if fixed is None else fixed)
    if fixed is not None:
        assert f"./{name}: fixed " in stderr
    elif name == "form_feed.py":
        assert f"./{name}: libcst does not reproduce this file exactly" in stderr
    else:  # a parse error, or (python2.py) findings after legacy repairs and a notice
        assert "NG001" in [line.split()[1] for line in _lines_for(lines, name)]


def test_fix_run_reports_the_files_it_left_alone(fix_run):
    root, done, _, _ = fix_run
    assert done.returncode == 1
    assert sorted(p.name for p in root.iterdir()) == sorted(TO_FIX)  # no temporary file left


def _limit_file_size():
    # A write past RLIMIT_FSIZE fails with EFBIG, as a full disk fails with ENOSPC: a real
    # failing write in the kernel, with SIGXFSZ ignored so that the process lives to report it.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def test_fix_with_a_failing_write_leaves_the_original_intact_and_fixes_the_rest(tmp_path):
    padding = b"".join(b"# padding line %d\n" % i for i in range(400))
    large = TRIGGER + padding  # its fixed version is larger than the writable limit
    (tmp_path / "large.py").write_bytes(large)
    (tmp_path / "small.py").write_bytes(TRIGGER)
    done = run("--fix", ".", cwd=tmp_path, preexec_fn=_limit_file_size)
    assert (tmp_path / "large.py").read_bytes() == large
    assert (tmp_path / "small.py").read_bytes().endswith(b"x = torch.ones(2)\n")
    assert b"large.py: cannot write fixes: File too large; file left unchanged" in done.stderr
    assert done.returncode == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["large.py", "small.py"]  # no temp file


def test_write_atomic_leaves_the_original_when_the_rename_fails(tmp_path, monkeypatch):
    from nograd_lint import fix

    target = tmp_path / "target.py"
    target.write_bytes(b"original\n")
    target.chmod(0o640)

    def refuse(source, destination):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fix.os, "replace", refuse)
    with pytest.raises(OSError, match="No space left"):
        fix.write_atomic(str(target), b"fixed\n" * 1000)
    assert target.read_bytes() == b"original\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["target.py"]
