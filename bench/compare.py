"""nograd-lint against its cost floor and its peers, on one directory of real Python code.

    python bench/compare.py DIRECTORY [--repeat 3] [--torchfix PATH] [--skip NAME ...]
                            [--baseline CHECKOUT]

Times, in one run, alternating the tools round-robin and taking medians:

  (a) nograd-lint, --jobs 1                   (b) nograd-lint, default jobs (all cores), both
      with the rules a plain run enables; (b+) the same with every rule, opt-in NG106 and NG205 too
  (c) libcst.parse_module of every file: the floor nograd-lint's analysis sits on
  (d) TorchFix --select ALL (when installed; it pins an old libcst, so give its venv's
      executable with --torchfix)
  (e) flake8 --select NG: the plugin path     (f) ruff check with its defaults (Rust, a speed
      reference; when installed)
  plus ast.parse of every file, the floor of the syntax-tree pre-filter, and the start-up of
  nograd-lint on one small file next to python -c "import libcst".
  With --baseline, (a) and (b) also run from CHECKOUT (another revision's source tree, e.g.
  ``git worktree add /tmp/before REV``): the same run, side by side.

Each is a fresh process, so start-up is included everywhere.  Prints files, lines, wall
seconds, CPU seconds (user + system of the process and its workers: steady on a loaded
machine, where wall time is not), files/s, and ratios to (c) and to (d).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_PARSE_EVERY_FILE = """
import sys
{imports}
for path in sys.argv[1:]:
    with open(path, "rb") as handle:
        source = handle.read()
    try:
        {parse}
    except Exception:
        pass
"""


def python_files(directory: Path) -> list[Path]:
    skip = {".git", "__pycache__", ".venv", "venv", "build", "dist", ".tox", "node_modules"}
    found = []
    for folder, subfolders, files in os.walk(directory):
        subfolders[:] = sorted(d for d in subfolders if d not in skip)
        found += [Path(folder) / f for f in sorted(files) if f.endswith(".py")]
    return found


def parse_script(kind: str) -> str:
    if kind == "libcst":
        return _PARSE_EVERY_FILE.format(imports="import libcst", parse="libcst.parse_module(source)")
    return _PARSE_EVERY_FILE.format(imports="import ast", parse="ast.parse(source)")


def commands(directory: Path, files: list[Path], torchfix: str | None, baseline: Path | None):
    """(label, argv or None when unavailable, source tree) for every tool, in the order
    printed."""
    paths = [str(f) for f in files]
    lint = [sys.executable, "-m", "nograd_lint", "--exit-zero", "--format", "json"]
    # --no-cache: every round lints from scratch (bench/index_speed.py measures the cache).
    no_cache = [*lint, "--no-cache"]
    flake8 = shutil.which("flake8")
    ruff = shutil.which("ruff")
    torchfix = torchfix or shutil.which("torchfix")
    # The baseline gets --no-cache too, unless it is from before the cache.
    cached = baseline is not None and "--no-cache" in (baseline / "nograd_lint/cli.py").read_text()
    before = [] if baseline is None else [
        ("(a0) ... --jobs 1, --baseline", [*(no_cache if cached else lint), "--jobs", "1",
                                           str(directory)], baseline),
        ("(b0) ... all cores, --baseline", [*(no_cache if cached else lint), str(directory)],
         baseline)]
    return [(label, argv, ROOT) for label, argv in [
        ("(a) nograd-lint --jobs 1", [*no_cache, "--jobs", "1", str(directory)]),
        ("(b) nograd-lint (all cores)", [*no_cache, str(directory)]),
        ("(b+) ... every rule (+NG106, NG205)",
         [*no_cache, "--select", "NG,NG106,NG205", str(directory)]),
        ("(c) libcst parse (floor)", [sys.executable, "-c", parse_script("libcst"), *paths]),
        ("(d) TorchFix --select ALL", [torchfix, "--select", "ALL", str(directory)] if torchfix else None),
        ("(e) flake8 --select NG", [flake8, "--select", "NG", "--exit-zero", str(directory)] if flake8 else None),
        ("(f) ruff check", [ruff, "check", "--no-cache", "--exit-zero", "--quiet", str(directory)] if ruff else None),
        ("    ast.parse (screen floor)", [sys.executable, "-c", parse_script("ast"), *paths]),
    ]] + [(label, argv, tree) for label, argv, tree in before]


def timed(argv: list[str], tree: Path = ROOT) -> tuple[float, float]:
    """Wall and CPU seconds of ``argv`` run with the nograd-lint of source tree ``tree``."""
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tree,
                          env={**os.environ, "PYTHONPATH": str(tree)})
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{argv[0]} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return elapsed, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def startup(repeat: int) -> tuple[float, float]:
    """nograd-lint on one small file, and the floor ``python -c 'import libcst'``."""
    with tempfile.TemporaryDirectory() as scratch:
        small = Path(scratch) / "train.py"
        small.write_text("import torch\n\nx = torch.zeros(2, requires_grad=True)\nx.add_(1)\n")
        lint = [sys.executable, "-m", "nograd_lint", "--exit-zero", str(small)]
        floor = [sys.executable, "-c", "import libcst"]
        runs = [(timed(lint)[0], timed(floor)[0]) for _ in range(max(repeat, 5))]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--torchfix", help="the torchfix executable (e.g. from its own venv)")
    parser.add_argument("--skip", nargs="*", default=[], help="letters of tools to leave out")
    parser.add_argument("--baseline", type=Path,
                        help="another revision's source tree: run (a) and (b) from it too")
    args = parser.parse_args()
    files = python_files(args.directory)
    lines = sum(len(f.read_bytes().splitlines()) for f in files)
    table = [(label, argv, tree) for label, argv, tree
             in commands(args.directory, files, args.torchfix, args.baseline)
             if argv is not None and label[1] not in args.skip]
    times: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in table}
    for _ in range(args.repeat):
        for label, argv, tree in table:  # round-robin: drift in machine load hits all alike
            times[label].append(timed(argv, tree))
    medians = {label: tuple(statistics.median(run[i] for run in runs) for i in (0, 1))
               for label, runs in times.items()}
    floor = medians.get("(c) libcst parse (floor)", (None,))[0]
    torchfix = medians.get("(d) TorchFix --select ALL", (None,))[0]
    print(f"{args.directory}: {len(files)} files, {lines} lines; {os.cpu_count()} cores; "
          f"median of {args.repeat}")
    print(f"{'tool':32} {'seconds':>8} {'CPU s':>8} {'files/s':>9} {'/ (c)':>7} {'/ (d)':>7}")
    for label, (seconds, cpu) in medians.items():
        to_floor = f"{seconds / floor:7.2f}" if floor else "      -"
        to_torchfix = f"{seconds / torchfix:7.3f}" if torchfix else "      -"
        print(f"{label:32} {seconds:8.2f} {cpu:8.2f} {len(files) / seconds:9.1f} {to_floor} "
              f"{to_torchfix}")
    for now, before in (("(a) nograd-lint --jobs 1", "(a0) ... --jobs 1, --baseline"),
                        ("(b) nograd-lint (all cores)", "(b0) ... all cores, --baseline")):
        if now in medians and before in medians:
            print(f"{now} / {before.split(',')[0]}: {medians[now][1] / medians[before][1]:.0%} "
                  f"CPU, {medians[now][0] / medians[before][0]:.0%} wall")
    lint_start, floor_start = startup(args.repeat)
    print(f"start-up on one small file: nograd-lint {lint_start:.3f} s, "
          f"python -c 'import libcst' {floor_start:.3f} s")


if __name__ == "__main__":
    main()
