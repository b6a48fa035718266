"""Coverage-guided fuzzing of l7lb's parsers of hostile input.

    python tools/fuzz.py TARGET [--minutes N] [--workdir DIR] [--engine atheris|hypothesis]
    python tools/fuzz.py TARGET --reduce [--workdir DIR]
    python tools/fuzz.py --list

TARGET is one of the checks in ``tools/fuzz_targets.py`` (request, response, chunked,
clienthello, cookie, jsessionid): each raises ``Finding`` on a crash or a disagreement
between the implementations it compares. The run lasts N minutes (default 10) and keeps, under
DIR/TARGET (default .fuzz/TARGET):

  corpus/     the inputs that reached new code (libFuzzer's corpus; seeded from
              tests/fuzz/corpus/TARGET, the small corpus the test suite replays)
  findings/   one file per distinct finding: the input (.bin) and what it raised (.txt);
              the same finding (same exception and place) is saved once
  stats.json  executions, findings, seconds: the run's report

The engine is atheris (libFuzzer for Python; ``pip install atheris``, or
``pip install -e '.[fuzz]'``) when it imports, else hypothesis with a large budget, guided by
``hypothesis.target`` on the number of distinct lines of l7lb the input ran (coarser, but no
extra dependency). l7lb runs as pure Python (L7LB_PURE=1) so that atheris can instrument it;
the test suite replays the corpus against the compiled build too.

``--reduce`` refreshes the committed corpus from a run's: of DIR/TARGET/corpus, smallest
first, it keeps each input that runs a line of l7lb none kept before did, and writes them to
tests/fuzz/corpus/TARGET/ (named by content) beside the seeds there.

To turn a finding into a regression test: copy its .bin to tests/fuzz/regressions/TARGET/
with a name saying what it is; tests/fuzz/test_fuzz_replay.py replays every file there.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

os.environ["L7LB_PURE"] = "1"  # before l7lb is imported: instrumentable Python, not C
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

# libFuzzer mutates with these when it has a dictionary: the bytes that decide framing
DICTIONARY = [
    b"\r\n",
    b"\r\n\r\n",
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"GET / HTTP/1.1\r\n",
    b"Host: ",
    b"Transfer-Encoding: ",
    b"chunked",
    b"Content-Length: ",
    b"Connection: ",
    b"close",
    b"keep-alive",
    b"upgrade",
    b"Upgrade: ",
    b"Expect: 100-continue",
    b"0\r\n\r\n",
    b";ext=",
    b'"',
    b"\\",
    b"HEAD",
    b"CONNECT",
    b" 101 ",
    b" 204 ",
    b" 304 ",
    b"Cookie: ",
    b"Set-Cookie: ",
    b"JSESSIONID=",
    b";jsessionid=",
    b"Max-Age=0",
    b"~",
    b"\x16\x03\x01",
    b"\x16\x03\x03",
    b"\x00\x00",
    b"\x00\x2b",
    b"\x00\x29",
]


def reduce_corpus(target: str, check: Callable[[bytes], None], out: Path) -> int:
    """Write to the committed corpus the inputs of ``out``/corpus that add line coverage of
    l7lb, smallest first; return how many were written."""
    dest = _seed_dir(target)
    dest.mkdir(parents=True, exist_ok=True)
    seen: set[tuple[str, int]] = set()
    lines: set[tuple[str, int]] = set()

    def tracer(frame, event, arg):  # type: ignore[no-untyped-def]
        if event == "line" and "/l7lb/" in frame.f_code.co_filename:
            lines.add((frame.f_code.co_filename, frame.f_lineno))
        return tracer

    def run(data: bytes) -> set[tuple[str, int]]:
        lines.clear()
        sys.settrace(tracer)
        try:
            check(data)
        except Exception:  # a finding: the run saved it as such; not kept here
            pass
        finally:
            sys.settrace(None)
        return set(lines)

    for path in sorted(dest.iterdir()):
        seen |= run(path.read_bytes())
    written = 0
    candidates = sorted((out / "corpus").iterdir(), key=lambda p: (p.stat().st_size, p.name))
    for path in candidates:
        data = path.read_bytes()
        new = run(data) - seen
        if new:
            seen |= new
            (dest / hashlib.sha1(data).hexdigest()[:12]).write_bytes(data)
            written += 1
    return written


class Recorder:
    """Runs the check on each input; saves each distinct finding once; counts executions."""

    def __init__(self, target: str, check: Callable[[bytes], None], out: Path) -> None:
        self.target = target
        self.check = check
        self.findings = out / "findings"
        self.findings.mkdir(parents=True, exist_ok=True)
        self.stats_path = out / "stats.json"
        self.seen = {p.stem for p in self.findings.glob("*.bin")}
        self.executions = 0
        self.new: list[str] = []
        self.t0 = time.monotonic()
        self.last_write = 0.0
        self.deadline = float("inf")  # atheris: the run ends here (see run_atheris)

    def __call__(self, data: bytes) -> None:
        self.executions += 1
        try:
            self.check(data)
        except Exception as exc:  # every exception is worth a look: Finding or a crash
            self._save(data, exc)
        now = time.monotonic()
        if now - self.last_write > 1:
            self.write_stats()
            if now > self.deadline:
                # libFuzzer ends a run with exit(), which skips Python's atexit: end it here,
                # with the report written
                print(f"fuzz: {json.dumps(self.stats())}", file=sys.stderr, flush=True)
                os._exit(0)

    def _save(self, data: bytes, exc: Exception) -> None:
        tb = traceback.extract_tb(exc.__traceback__)
        inner = exc.__cause__ or exc.__context__
        if inner is not None and inner.__traceback__ is not None:
            tb = traceback.extract_tb(inner.__traceback__)
        where = next(
            (f"{f.filename}:{f.lineno}" for f in reversed(tb) if "/l7lb/" in f.filename),
            f"{tb[-1].filename}:{tb[-1].lineno}" if tb else "",
        )
        # one file per kind of finding: the exception, its kind (or first words) and place
        words = getattr(exc, "key", "") or " ".join(str(exc).split()[:4])
        signature = f"{type(exc).__name__}|{words}|{where}"
        name = hashlib.sha1(signature.encode()).hexdigest()[:16]
        if name in self.seen:
            return
        self.seen.add(name)
        self.new.append(name)
        (self.findings / f"{name}.bin").write_bytes(data)
        text = "".join(traceback.format_exception(exc))
        (self.findings / f"{name}.txt").write_text(f"{signature}\ninput: {data!r}\n\n{text}")
        print(f"fuzz: NEW FINDING {name}: {signature}", file=sys.stderr, flush=True)
        self.write_stats()

    def write_stats(self) -> None:
        self.last_write = time.monotonic()
        self.stats_path.write_text(json.dumps(self.stats(), indent=1) + "\n")

    def stats(self) -> dict[str, object]:
        return {
            "target": self.target,
            "executions": self.executions,
            "seconds": round(self.last_write - self.t0, 1),
            "new_findings": self.new,
            "findings_total": len(self.seen),
            "pending_skipped": dict(sys.modules["fuzz_targets"].PENDING),
        }


def _seed_dir(target: str) -> Path:
    return ROOT / "tests" / "fuzz" / "corpus" / target


def run_atheris(target: str, rec: Recorder, out: Path, minutes: float, max_len: int) -> None:
    import atheris

    corpus = out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".dict", delete=False) as d:
        for token in DICTIONARY:
            d.write('"' + "".join(f"\\x{b:02x}" for b in token) + '"\n')
    args = [
        sys.argv[0],
        str(corpus),
        *[str(p) for p in [_seed_dir(target)] if p.is_dir()],
        f"-max_total_time={int(minutes * 60) + 60}",  # a backstop: the recorder ends the run
        f"-max_len={max_len}",
        f"-dict={d.name}",
        "-timeout=20",  # one input taking 20 s is a finding of its own (libFuzzer saves it)
        "-rss_limit_mb=2048",
        f"-artifact_prefix={rec.findings}/",
        "-print_final_stats=1",
    ]
    print(f"fuzz: atheris {' '.join(args[1:])}", file=sys.stderr, flush=True)

    rec.deadline = time.monotonic() + minutes * 60
    atheris.Setup(args, rec)
    atheris.Fuzz()


def run_hypothesis(target: str, rec: Recorder, out: Path, minutes: float, max_len: int) -> None:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st
    from hypothesis import target as aim
    from hypothesis.database import DirectoryBasedExampleDatabase

    seeds = [p.read_bytes() for p in sorted(_seed_dir(target).glob("*"))] or [b""]
    lines: set[tuple[str, int]] = set()

    def tracer(frame, event, arg):  # type: ignore[no-untyped-def]
        if event == "line" and "/l7lb/" in frame.f_code.co_filename:
            lines.add((frame.f_code.co_filename, frame.f_lineno))
        return tracer

    def mutate(seed: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
        data = bytearray(seed)
        for at, how, piece in edits:
            at %= len(data) + 1
            if how == 0:
                data[at:at] = piece
            elif how == 1:
                data[at : at + len(piece)] = piece
            else:
                del data[at : at + len(piece) + 1]
        return bytes(data[:max_len])

    inputs = st.one_of(
        st.binary(max_size=max_len),
        st.builds(
            mutate,
            st.sampled_from(seeds),
            st.lists(
                st.tuples(
                    st.integers(0, max_len),
                    st.integers(0, 2),
                    st.sampled_from(DICTIONARY) | st.binary(max_size=4),
                ),
                max_size=6,
            ),
        ),
    )
    deadline = time.monotonic() + minutes * 60

    @settings(
        max_examples=500,
        deadline=None,
        database=DirectoryBasedExampleDatabase(str(out / "hypothesis")),
        suppress_health_check=list(HealthCheck),
        phases=[Phase.reuse, Phase.generate, Phase.target],  # no shrinking: rec keeps inputs
    )
    @given(inputs)
    def one(data: bytes) -> None:
        if time.monotonic() > deadline:
            return
        lines.clear()
        sys.settrace(tracer)
        try:
            rec(data)
        finally:
            sys.settrace(None)
        aim(float(len(lines)), label="distinct l7lb lines run")

    while time.monotonic() < deadline:  # rounds of 500 examples until the time is up
        one()
    rec.write_stats()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("target", nargs="?")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--workdir", type=Path, default=ROOT / ".fuzz")
    ap.add_argument("--engine", choices=["auto", "atheris", "hypothesis"], default="auto")
    ap.add_argument("--max-len", type=int, default=2048)
    ap.add_argument("--list", action="store_true", help="list the targets and stop")
    ap.add_argument(
        "--reduce", action="store_true", help="refresh tests/fuzz/corpus/TARGET from a run's"
    )
    args = ap.parse_args(argv)
    engine = args.engine
    if engine == "auto":
        engine = "atheris" if importlib.util.find_spec("atheris") else "hypothesis"
    if args.list or not args.target or engine != "atheris" or args.reduce:
        import fuzz_targets
    else:
        import atheris

        import l7lb  # noqa: F401  # installs l7lb's import hook first: atheris's goes ahead of it

        # coverage for libFuzzer: l7lb, the checks, and h11 (the reference it compares to)
        with atheris.instrument_imports(include=["l7lb", "fuzz_targets", "h11"]):
            import fuzz_targets
    if args.list or not args.target:
        print("\n".join(fuzz_targets.TARGETS))
        return 0 if args.list else 2
    if args.target not in fuzz_targets.TARGETS:
        ap.error(f"unknown target {args.target!r}: one of {', '.join(fuzz_targets.TARGETS)}")
    out = args.workdir / args.target
    if args.reduce:
        n = reduce_corpus(args.target, fuzz_targets.TARGETS[args.target], out)
        print(f"fuzz: {n} inputs added to {_seed_dir(args.target)}", file=sys.stderr)
        return 0
    out.mkdir(parents=True, exist_ok=True)
    rec = Recorder(args.target, fuzz_targets.TARGETS[args.target], out)
    print(f"fuzz: {args.target} with {engine} for {args.minutes} min into {out}", file=sys.stderr)
    if engine == "atheris":
        run_atheris(args.target, rec, out, args.minutes, args.max_len)
    else:
        run_hypothesis(args.target, rec, out, args.minutes, args.max_len)
    print(json.dumps(json.loads(rec.stats_path.read_text())), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
