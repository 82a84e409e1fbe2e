"""Lint speed against the floor, a bare ``libcst.parse_module`` of the same files.

    python bench/lint_speed.py [CORPUS_DIR] [--repeat N]

Without a corpus, one is generated from ``fixtures/`` (>= 2,000 files: copies that pass the
textual pre-filter, and copies that import another library instead of torch, which do not).  For real code,
clone e.g. huggingface/pytorch-image-models and pass its directory.

Timings alternate between the contenders and report medians, so machine noise hits all alike:
(a) nograd-lint, all rules, one process; (b) the same with all cores; (c) the parse floor.
Files the pre-filters send to the full analysis (a libcst parse) and files they rule out are
also timed separately: the first against their own parse (target <= 1.3x), the second against
the parse they are spared.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import libcst as cst

from nograd_lint.config import Config
from nograd_lint.engine import analyze
from nograd_lint.runner import default_jobs, lint_file, lint_paths
from nograd_lint.files import discover

ROOT = Path(__file__).resolve().parent.parent
CONFIG = Config()  # the rules a plain run enables


def generated_corpus(directory: Path, files: int = 2000) -> list[str]:
    fixtures = sorted((ROOT / "fixtures").glob("*.py"))
    copies = -(-files // (2 * len(fixtures)))
    for index in range(copies):
        for fixture in fixtures:
            text = fixture.read_text()
            (directory / f"c{index:03d}_{fixture.name}").write_text(text)
            # Without torch (or runtime) the file cannot misuse it: the pre-filter skips it.
            renamed = text.replace("torch", "tensorlib").replace("runtime", "backend")
            (directory / f"n{index:03d}_{fixture.name}").write_text(renamed)
    return discover([str(directory)], CONFIG).files


def read_all(files: list[str]) -> dict[str, bytes]:
    return {path: Path(path).read_bytes() for path in files}


def parse_all(sources: dict[str, bytes]) -> None:
    for source in sources.values():
        try:
            cst.parse_module(source)
        except Exception:  # noqa: BLE001 - the floor parses whatever it can
            pass


def lint_serial(files: list[str]) -> None:
    for path in files:
        lint_file(path, CONFIG)


def timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        files = (discover([args.corpus], CONFIG).files if args.corpus
                 else generated_corpus(Path(scratch)))
        sources = read_all(files)
        # A file is analysed when the pre-filters let it reach the libcst parse.
        analysed = [p for p, s in sources.items() if analyze(s, p, CONFIG).module is not None]
        screened = [p for p in files if p not in set(analysed)]
        lines = sum(s.count(b"\n") for s in sources.values())
        jobs = default_jobs()

        contenders = {
            "(a) nograd-lint, 1 process": lambda: lint_serial(files),
            f"(b) nograd-lint, {jobs} processes": lambda: lint_paths(files, CONFIG, jobs),
            "(c) libcst.parse_module (floor)": lambda: parse_all(sources),
            "analysed: nograd-lint": lambda: lint_serial(analysed),
            "analysed: parse": lambda: parse_all({p: sources[p] for p in analysed}),
            "screened out: nograd-lint": lambda: lint_serial(screened),
            "screened out: parse": lambda: parse_all({p: sources[p] for p in screened}),
        }
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.repeat):
            for name, run in contenders.items():
                samples[name].append(timed(run))
        median = {name: statistics.median(times) for name, times in samples.items()}

    print(f"corpus: {args.corpus or 'generated from fixtures'}: {len(files)} files, {lines} lines; "
          f"{len(analysed)} analysed; {jobs} cores; median of {args.repeat}")
    for name, seconds in median.items():
        count = {"analysed:": len(analysed), "screened": len(screened)}.get(name.split()[0],
                                                                            len(files))
        print(f"  {name:<36} {seconds:8.3f} s  {count / seconds if seconds else 0:10.0f} files/s")
    floor = median["(c) libcst.parse_module (floor)"]
    print(f"ratio (a)/(c), all files:              {median['(a) nograd-lint, 1 process'] / floor:.3f}")
    print(f"ratio (b)/(c), all files:              {median[f'(b) nograd-lint, {jobs} processes'] / floor:.3f}")
    if analysed:
        print("ratio lint/parse, analysed files:      "
              f"{median['analysed: nograd-lint'] / median['analysed: parse']:.3f}   (target <= 1.3)")
    if screened:
        print("ratio lint/parse, screened-out files:  "
              f"{median['screened out: nograd-lint'] / median['screened out: parse']:.3f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
