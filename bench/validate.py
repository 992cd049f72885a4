"""Full package validation of a ~20 MB ST.96 document: hws against ``xmllint``, in one run,
document work against document work.

The package is an indirect application (``HagueApplication``) built with the project's own
builder (:func:`hws.st96.builder.build_package`): thousands of designs, each with a
product, a Locarno class, a description and many views, whose image files are tiny
specimens (at most 900 distinct files, so the package stays under the ZIP entry limit;
views share them). Seeded, so every run builds the same bytes. The XML of the package is
also written out on its own, so that both tools read exactly the same document, and a
one-design document of the same shape (the smallest valid one) is written next to it.

Compiling WIPO's V6_0 schema set takes seconds and is paid once per process by both tools,
so it is taken out of the per-document figures the same way on both sides: each side runs
once over ``--docs`` copies of the big document (one schema compile, then each document
read, parsed into a tree and validated) and once over the one-design document alone; the
difference of the two wall-clock times, divided by ``--docs``, is that side's work per
document. Both are new processes timed from outside:

* anchor: ``xmllint --noout --schema HagueOfficeToIBTransaction_V6_0.xsd big.xml big.xml …``
  (xmllint parses each file into a tree and validates it with the compiled schema);
* hws XSD: a fresh Python process compiles the same XSD with ``SchemaSet`` and, for each
  file, reads it, parses it with the service's hardened parser (``safexml.parse``) and
  validates the tree with the compiled schema — the XSD step of an upload, the same work as
  xmllint's. Its in-process per-document times are printed too.

And what an upload costs, for reference against the anchor's document work:

* ``hws validate_package(ZIP)`` — everything the service does on an upload: ZIP safety
  and reading, layout and magic bytes, hardened parsing, the official XSD, the structural
  rules and the references (more than xmllint does). A fresh Python process per round:
  the first call is *cold* (it compiles the XSD; compared with one ``xmllint`` run on the
  big document, a new process that compiles too), the next ``--warm`` calls are *warm*
  (cached XSD; compared with xmllint's work per document).

Every round runs the anchor and hws, in an order that alternates from round to round, so
that a drift of the machine's load moves both; medians, min–max and each round's ratios
are printed. The report of ``validate_package`` must be accepted (``ok``) with the
official schema applied; otherwise the problem codes are printed and the script exits 1,
since a bench of a rejected package means nothing. The target (reported, not asserted) is
hws warm ≤ 1.5 × xmllint's work per document.

Run from the repository root::

    .venv/bin/python bench/validate.py              # a few minutes
    .venv/bin/python bench/validate.py --quick      # 5 MB, 2 rounds
    .venv/bin/python bench/validate.py --profile    # and where hws spends its time

Needs ``xmllint`` (Debian/Ubuntu: ``apt-get install -y libxml2-utils``) and WIPO's V6_0
schema set in ``../shared/st96/V6_0`` next to the repository (or ``--schemas DIR``); the
XSDs are installed into a temporary data folder with ``install_schema_set``, never copied
into the repository. Work files live in ``bench/.work/validate/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_SCHEMAS = REPO.parent / "shared" / "st96" / "V6_0"
XSD_NAME = "HagueOfficeToIBTransaction_V6_0.xsd"
TARGET_RATIO = 1.5
MAX_FILES = 900  # distinct image files; ZipLimits.max_entries is 1000

_WORDS = [
    "chair",
    "table",
    "lamp",
    "sofa",
    "bench",
    "stool",
    "shelf",
    "cabinet",
    "desk",
    "bed",
    "frame",
    "leg",
    "arm",
    "back",
    "seat",
    "cushion",
    "wooden",
    "metal",
    "curved",
    "straight",
    "round",
    "square",
    "oval",
    "slim",
    "wide",
    "tall",
    "low",
    "handle",
    "door",
    "panel",
    "glass",
    "steel",
    "oak",
    "walnut",
    "matt",
    "glossy",
    "folding",
    "stacking",
    "swivel",
    "rocking",
    "modular",
    "corner",
]
_VIEW_TYPES = ("Perspective", "Front", "Back", "Top", "Bottom", "Left", "Right")


# --------------------------------------------------------------------------- the package


def design_spec(designs: int, views: int, seed: int = 96) -> dict[str, Any]:
    """The example application with ``designs`` designs of ``views`` views each."""
    from hws.st96.examples import example_spec

    rng = random.Random(seed)
    spec = example_spec("application")
    out = []
    n = 0
    for i in range(1, designs + 1):
        view_list = []
        for _ in range(views):
            k = n % MAX_FILES
            n += 1
            suffix = "jpg" if k % 2 == 0 else "png"
            view_list.append({"file": f"images/{k + 1:04d}.{suffix}", "type": rng.choice(_VIEW_TYPES)})
        out.append(
            {
                "id": str(i),
                "product": " ".join(rng.choices(_WORDS, k=4)).capitalize(),
                "locarno": f"06-{rng.randint(1, 13):02d}",
                "description": " ".join(rng.choices(_WORDS, k=rng.randint(20, 60))).capitalize() + ".",
                "views": view_list,
            }
        )
    spec["designs"] = out
    return spec


def build(work: Path, target_bytes: int, views: int) -> tuple[Path, Path, Path, int, int]:
    """Build the package (ZIP), its XML alone, and a one-design XML; sized by calibration."""
    from hws.st96.builder import build_package, build_xml

    probe = 50
    probe_xml, _ = build_xml(design_spec(probe, views))
    base_xml, _ = build_xml(design_spec(1, views))
    per_design = (len(probe_xml) - len(base_xml)) / (probe - 1)
    designs = max(1, round((target_bytes - len(base_xml)) / per_design) + 1)
    spec = design_spec(designs, views)
    package = build_package(spec, fill_missing=True)
    xml, _ = build_xml(spec)
    zip_path = work / "package.zip"
    xml_path = work / "package.xml"
    small_path = work / "one-design.xml"
    zip_path.write_bytes(package)
    xml_path.write_bytes(xml)
    small_path.write_bytes(base_xml)
    return zip_path, xml_path, small_path, designs, len(package)


# --------------------------------------------------------------------------- measuring


def xmllint_version(xmllint: str) -> str:
    out = subprocess.run([xmllint, "--version"], capture_output=True, text=True)
    first = (out.stderr or out.stdout).splitlines()
    return first[0].replace(f"{xmllint}: ", "") if first else "?"


@dataclass
class Batch:
    """One process that compiled the schema once and validated documents: its wall-clock
    time, its schema compile and, per document, parse (incl. reading the file) and validate."""

    wall: float
    compile: float
    parse: list[float]
    validate: list[float]

    @property
    def per_document(self) -> list[float]:
        return [p + v for p, v in zip(self.parse, self.validate, strict=True)]


def run_xmllint(xmllint: str, xsd: Path, documents: list[Path]) -> Batch:
    """One xmllint process validating ``documents`` (one schema compile), with its own
    ``--timing`` of the compile and of each document's parsing and validation (ms)."""
    start = time.perf_counter()
    done = subprocess.run(
        [xmllint, "--timing", "--noout", "--schema", str(xsd), *map(str, documents)], capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or done.stderr.count(" validates") != len(documents):
        tail = "\n".join(done.stderr.splitlines()[-5:])
        raise SystemExit(f"xmllint rejected {documents[0]} (exit {done.returncode}); the bench needs a valid document:\n{tail}")
    timings: dict[str, list[float]] = {"Compiling the schemas": [], "Parsing": [], "Validating": []}
    for line in done.stderr.splitlines():
        match = re.fullmatch(r"(.+) took (\d+) ms", line.strip())
        if match and match[1] in timings:
            timings[match[1]].append(int(match[2]) / 1000)
    if len(timings["Parsing"]) != len(documents) or len(timings["Validating"]) != len(documents):
        raise SystemExit(f"unexpected xmllint --timing output:\n{done.stderr[-2000:]}")
    return Batch(elapsed, sum(timings["Compiling the schemas"]), timings["Parsing"], timings["Validating"])


def run_xsd_child(schema_root: Path, documents: list[Path]) -> Batch:
    """One fresh Python process doing hws's XSD step on ``documents`` (one schema compile),
    timed inside like xmllint's ``--timing``."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-xsd", str(schema_root), *map(str, documents)]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the measuring process failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.splitlines()[-1])
    if not result["ok"]:
        raise SystemExit(f"the compiled V6_0 schema rejected {documents[0]}: {result['errors']}")
    return Batch(elapsed, result["compile"], result["parse"], result["validate"])


def child_xsd(schema_root: str, documents: list[str]) -> int:
    """Compile the V6_0 schema once, then for each document: read + hardened parse, validate."""
    import gc

    from hws.st96 import safexml
    from hws.st96.schemaset import SchemaSet

    start = time.perf_counter()
    compiled = SchemaSet(schema_root).compiled("V6_0")
    assert compiled is not None
    result: dict[str, Any] = {"compile": time.perf_counter() - start, "parse": [], "validate": [], "ok": True, "errors": []}
    for path in documents:
        gc.collect()
        start = time.perf_counter()
        tree = safexml.parse(Path(path).read_bytes())
        parsed = time.perf_counter()
        errors = compiled.errors(tree, 10)
        result["validate"].append(time.perf_counter() - parsed)
        result["parse"].append(parsed - start)
        if errors:
            result["ok"] = False
            result["errors"] = [str(e) for e in errors]
        del tree
    print(json.dumps(result))
    return 0


def run_child(zip_path: Path, xml_path: Path, schema_root: Path, warm: int) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(zip_path), str(xml_path), str(schema_root), str(warm)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"the measuring process failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def child(zip_path: str, xml_path: str, schema_root: str, warm: int) -> int:
    """In a fresh process: one cold validate_package, then warm ones, then XSD only."""
    import gc

    from hws.st96 import safexml
    from hws.st96.package import validate_package
    from hws.st96.schemaset import SchemaSet

    schemas = SchemaSet(schema_root)
    start = time.perf_counter()
    report = validate_package(zip_path, schemas=schemas)
    cold = time.perf_counter() - start
    result: dict[str, Any] = {
        "ok": report.ok,
        "schema_checked": report.schema_checked,
        "codes": sorted(report.codes),
        "errors": [str(p) for p in report.errors[:10]],
        "cold": cold,
        "warm": [],
        "parse": [],
        "xsd": [],
    }
    del report
    for _ in range(warm):
        gc.collect()
        start = time.perf_counter()
        report = validate_package(zip_path, schemas=schemas)
        result["warm"].append(time.perf_counter() - start)
        result["ok"] = result["ok"] and report.ok
        del report
    data = Path(xml_path).read_bytes()
    compiled = schemas.compiled("V6_0")
    assert compiled is not None
    for _ in range(warm):
        gc.collect()
        start = time.perf_counter()
        tree = safexml.parse(data)
        result["parse"].append(time.perf_counter() - start)
        start = time.perf_counter()
        errors = compiled.errors(tree, 101)
        result["xsd"].append(time.perf_counter() - start)
        result["ok"] = result["ok"] and not errors
        del tree
    print(json.dumps(result))
    return 0


def profile(zip_path: Path, schema_root: Path, top: int = 25) -> None:
    import cProfile
    import pstats

    from hws.st96.package import validate_package
    from hws.st96.schemaset import SchemaSet

    schemas = SchemaSet(schema_root)
    validate_package(zip_path, schemas=schemas)  # warm the XSD cache
    prof = cProfile.Profile()
    prof.enable()
    validate_package(zip_path, schemas=schemas)
    prof.disable()
    print(f"\ncProfile of one warm validate_package (top {top} by cumulative time; profiling slows Python code):")
    pstats.Stats(prof, stream=sys.stdout).strip_dirs().sort_stats("cumulative").print_stats(top)


# --------------------------------------------------------------------------- main


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:9.1f} ms"


def spread(values: list[float]) -> str:
    return f"{fmt(min(values)).strip()} – {fmt(max(values)).strip()}"


def ratio_line(label: str, ratios: list[float], target: float | None = None) -> str:
    ordered = sorted(ratios)
    line = (
        f"{label}: median {statistics.median(ratios):.2f}× ({ordered[0]:.2f}–{ordered[-1]:.2f}; "
        f"rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    if target is not None:
        line += f"  ({'meets' if statistics.median(ratios) <= target else 'MISSES'} the target ≤ {target}×)"
    return line


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[1], argv[2], argv[3], int(argv[4]))
    if argv[:1] == ["--child-xsd"]:
        return child_xsd(argv[1], argv[2:])

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 MB document, 2 rounds, 2 documents per batch")
    parser.add_argument("--size-mb", type=float, help="size of the XML in MB (10^6 bytes; default 20; --quick 5)")
    parser.add_argument("--views", type=int, default=12, help="views per design (default 12)")
    parser.add_argument("--rounds", type=int, help="rounds, anchor and hws each (default 5; --quick 2)")
    parser.add_argument("--docs", type=int, help="copies of the big document validated by one process (default 3; --quick 2)")
    parser.add_argument("--warm", type=int, default=3, help="warm validate_package calls per hws process (default 3)")
    parser.add_argument(
        "--schemas", type=Path, default=DEFAULT_SCHEMAS, help=f"WIPO's V6_0 folder or ZIP (default {DEFAULT_SCHEMAS})"
    )
    parser.add_argument("--xmllint", default="xmllint", help="the xmllint program (default: xmllint on PATH)")
    parser.add_argument(
        "--work", type=Path, default=HERE / ".work" / "validate", help="work folder (default bench/.work/validate)"
    )
    parser.add_argument("--profile", action="store_true", help="also cProfile one warm validate_package and print the hot spots")
    args = parser.parse_args(argv)
    args.size_mb = args.size_mb or (5.0 if args.quick else 20.0)
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.docs = args.docs or (2 if args.quick else 3)

    xmllint = shutil.which(args.xmllint)
    if xmllint is None:
        print(
            f"error: {args.xmllint!r} is not installed or not on PATH; it is the anchor of this bench.\n"
            "Install it and run again:\n"
            "    Debian/Ubuntu:  sudo apt-get install -y libxml2-utils\n"
            "    Fedora/RHEL:    sudo dnf install -y libxml2\n"
            "    macOS:          brew install libxml2   (or use /usr/bin/xmllint)\n"
            "or point at one with --xmllint PATH.",
            file=sys.stderr,
        )
        return 2
    if not args.schemas.exists():
        print(f"error: WIPO's V6_0 schema set is not at {args.schemas}; give it with --schemas DIR|ZIP", file=sys.stderr)
        return 2
    if args.rounds < 1 or args.warm < 1 or args.docs < 1:
        parser.error("--rounds, --docs and --warm must be at least 1")

    from lxml import etree

    from hws.st96.schemaset import default_schema_root, install_schema_set

    args.work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    zip_path, xml_path, small_path, designs, zip_size = build(args.work, int(args.size_mb * 1_000_000), args.views)
    built = time.perf_counter() - start
    xml_size = xml_path.stat().st_size
    batch = [xml_path] * args.docs
    load_before = Path("/proc/loadavg").read_text().strip()

    with tempfile.TemporaryDirectory(prefix="data-", dir=args.work) as data_dir:
        installed = install_schema_set(args.schemas, data_dir)
        schema_root = default_schema_root(Path(data_dir))
        xsd = next(installed.path.rglob(XSD_NAME))  # the same XSD files for both tools

        print(
            f"hws validate bench — {platform.python_implementation()} {platform.python_version()}, "
            f"lxml {'.'.join(map(str, etree.LXML_VERSION))} (libxml2 {'.'.join(map(str, etree.LIBXML_VERSION))}), "
            f"xmllint {xmllint_version(xmllint)}, {os.cpu_count()} CPUs; /proc/loadavg before: {load_before}"
        )
        print(
            f"package {zip_path.relative_to(REPO) if zip_path.is_relative_to(REPO) else zip_path}: "
            f"{zip_size / 1e6:.2f} MB ZIP; XML {xml_size / 1e6:.2f} MB, {designs} designs × {args.views} views "
            f"= {designs * args.views} views, {min(designs * args.views, MAX_FILES)} image files (built in {built:.1f} s); "
            f"one-design XML {small_path.stat().st_size / 1e3:.1f} kB"
        )
        print(f"schema  {XSD_NAME} (V6_0, {installed.files} XSD files) installed into a temporary data folder")
        print(
            f"each round, anchor and hws in alternating order (both compile the schema once per process):\n"
            f"  xmllint: one process on {args.docs} copies of the XML: `xmllint --timing --noout --schema XSD "
            f"FILE…` (per file: read + parse into a tree, then validate; its own --timing per step), "
            f"and one process on the XML alone (one-shot, wall clock)\n"
            f"  hws XSD: one Python process on {args.docs} copies: SchemaSet compile, then per file: read + "
            f"safexml.parse, then the compiled schema (timed inside with perf_counter, like --timing)\n"
            f"  hws package: one Python process, validate_package(ZIP) 1 cold (compiles the XSD) + {args.warm} warm\n"
            f"  per document = parse + validate, median over the round's copies, on both sides",
            flush=True,
        )

        cols: dict[str, list[float]] = {
            k: []
            for k in ("lint_doc", "lint_parse", "lint_validate", "lint_compile", "lint_one", "xsd_doc", "xsd_parse",
                      "xsd_validate", "xsd_compile", "cold", "warm", "parse", "xsd_only")
        }  # fmt: skip
        r_xsd, r_warm, r_cold, r_compile = [], [], [], []
        res: dict[str, Any] = {}
        for r in range(args.rounds):
            round_: dict[str, Any] = {}

            def anchor(round_: dict[str, Any]) -> None:
                round_["lint"] = run_xmllint(xmllint, xsd, batch)
                round_["lint_one"] = run_xmllint(xmllint, xsd, [xml_path]).wall

            def ours(round_: dict[str, Any]) -> None:
                nonlocal res
                round_["xsd"] = run_xsd_child(schema_root, batch)
                res = run_child(zip_path, xml_path, schema_root, args.warm)
                if not (res["ok"] and res["schema_checked"]):
                    raise SystemExit(
                        f"validate_package did not accept the package (schema checked: {res['schema_checked']}); "
                        f"problem codes: {', '.join(res['codes']) or '-'}\n" + "\n".join(res["errors"])
                    )
                round_["cold"] = res["cold"]
                round_["warm"] = statistics.median(res["warm"])
                cols["warm"].extend(res["warm"])
                cols["parse"].extend(res["parse"])
                cols["xsd_only"].extend(res["xsd"])

            order = (anchor, ours) if r % 2 == 0 else (ours, anchor)
            for step in order:
                step(round_)
            lint, ours_xsd = round_["lint"], round_["xsd"]
            lint_doc, xsd_doc = statistics.median(lint.per_document), statistics.median(ours_xsd.per_document)
            cols["lint_doc"].extend(lint.per_document)
            cols["lint_parse"].extend(lint.parse)
            cols["lint_validate"].extend(lint.validate)
            cols["lint_compile"].append(lint.compile)
            cols["lint_one"].append(round_["lint_one"])
            cols["xsd_doc"].extend(ours_xsd.per_document)
            cols["xsd_parse"].extend(ours_xsd.parse)
            cols["xsd_validate"].extend(ours_xsd.validate)
            cols["xsd_compile"].append(ours_xsd.compile)
            cols["cold"].append(round_["cold"])
            r_xsd.append(xsd_doc / lint_doc)
            r_warm.append(round_["warm"] / lint_doc)
            r_cold.append(round_["cold"] / round_["lint_one"])
            r_compile.append(ours_xsd.compile / lint.compile)
            print(
                f"  round {r + 1} ({'xmllint first' if r % 2 == 0 else 'hws first'}): per document xmllint "
                f"{fmt(lint_doc).strip()}, hws XSD {fmt(xsd_doc).strip()}, hws package warm {fmt(round_['warm']).strip()}; "
                f"compile xmllint {fmt(lint.compile).strip()}, hws {fmt(ours_xsd.compile).strip()}; "
                f"one-shot xmllint {fmt(round_['lint_one']).strip()}, hws cold {fmt(round_['cold']).strip()}",
                flush=True,
            )
        print(f"  report: accepted, official XSD applied, problem codes: {', '.join(res['codes']) or 'none'}")

        med = statistics.median
        rows = [
            ("xmllint per document: parse + validate (its --timing)  [anchor]", cols["lint_doc"]),
            ("  xmllint read + parse", cols["lint_parse"]),
            ("  xmllint validate (compiled schema on the tree)", cols["lint_validate"]),
            ("hws XSD per document: read + safexml.parse + validate", cols["xsd_doc"]),
            ("  hws read + hardened parse", cols["xsd_parse"]),
            ("  hws validate (compiled schema on the tree)", cols["xsd_validate"]),
            ("hws validate_package(ZIP), warm (XSD cached; does more)", cols["warm"]),
            ("xmllint schema compile (its --timing)", cols["lint_compile"]),
            ("hws schema compile (SchemaSet, inside the process)", cols["xsd_compile"]),
            ("xmllint one-shot on the XML (new process, incl. XSD compile)", cols["lint_one"]),
            ("hws validate_package(ZIP), cold (fresh process, incl. XSD compile)", cols["cold"]),
        ]
        width = max(len(name) for name, _ in rows)
        print()
        print(f"{'measurement':<{width}}  {'median':>12}  {'min – max':>21}  runs")
        for name, values in rows:
            print(f"{name:<{width}}  {fmt(med(values))}  {spread(values):>21}  {len(values):>4}")
        print()
        print(ratio_line("ratio hws XSD ÷ xmllint, per document (the same work)", r_xsd))
        print(
            ratio_line("ratio hws package warm ÷ xmllint per document (an upload's work vs the XSD step)", r_warm, TARGET_RATIO)
        )
        print(ratio_line("ratio hws schema compile ÷ xmllint's", r_compile))
        print(ratio_line("ratio hws cold ÷ xmllint one-shot (both compile the XSD; hws's Python start-up not counted)", r_cold))
        print(f"/proc/loadavg after: {Path('/proc/loadavg').read_text().strip()} (anything else running skews the numbers)")

        if args.profile:
            profile(zip_path, schema_root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
