"""Full package validation of a ~20 MB ST.96 document: hws against ``xmllint``, in one run.

The package is an indirect application (``HagueApplication``) built with the project's own
builder (:func:`hws.st96.builder.build_package`): thousands of designs, each with a
product, a Locarno class, a description and many views, whose image files are tiny
specimens (at most 900 distinct files, so the package stays under the ZIP entry limit;
views share them). Seeded, so every run builds the same bytes. The XML of the package is
also written out on its own, so that both tools read exactly the same document.

Measured, interleaved round by round (so that both tools see the same machine load):

* ``xmllint --noout --schema HagueOfficeToIBTransaction_V6_0.xsd FILE.xml`` — the anchor;
  each run is a new process, so its time includes compiling the XSD. For reference, the
  same command on a one-design document of the same shape (≈ start-up + XSD compile).
* ``hws validate_package(ZIP)`` — everything the service does on an upload: ZIP safety
  and reading, layout and magic bytes, hardened parsing, the official XSD, the structural
  rules and the references. Each round starts a fresh Python process: the first call
  there is *cold* (it compiles the XSD), the following calls are *warm* (cached XSD).
* ``hws XSD only`` — the compiled official schema applied to the already-parsed tree
  (warm), and the hardened parse alone, for reference.

The report of ``validate_package`` must be accepted (``ok``) with the official schema
applied; otherwise the problem codes are printed and the script exits 1, since a bench of
a rejected package means nothing. The target (reported, not asserted) is hws warm
≤ 1.5 × xmllint.

Run from the repository root::

    .venv/bin/python bench/validate.py              # about a minute
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
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
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


def run_xmllint(xmllint: str, xsd: Path, xml: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run([xmllint, "--noout", "--schema", str(xsd), str(xml)], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        tail = "\n".join(done.stderr.splitlines()[-5:])
        raise SystemExit(f"xmllint rejected {xml} (exit {done.returncode}); the bench needs a valid document:\n{tail}")
    return elapsed


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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[1], argv[2], argv[3], int(argv[4]))

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=20.0, help="size of the XML in MB (10^6 bytes; default 20)")
    parser.add_argument("--views", type=int, default=12, help="views per design (default 12)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds: one xmllint run + one fresh hws process each (default 5)")
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
    if args.rounds < 1 or args.warm < 1:
        parser.error("--rounds and --warm must be at least 1")

    from lxml import etree

    from hws.st96.schemaset import default_schema_root, install_schema_set

    args.work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    zip_path, xml_path, small_path, designs, zip_size = build(args.work, int(args.size_mb * 1_000_000), args.views)
    built = time.perf_counter() - start
    xml_size = xml_path.stat().st_size

    with tempfile.TemporaryDirectory(prefix="data-", dir=args.work) as data_dir:
        installed = install_schema_set(args.schemas, data_dir)
        schema_root = default_schema_root(Path(data_dir))
        xsd = next(installed.path.rglob(XSD_NAME))  # the same XSD files for both tools

        print(
            f"hws validate bench — {platform.python_implementation()} {platform.python_version()}, "
            f"lxml {'.'.join(map(str, etree.LXML_VERSION))} (libxml2 {'.'.join(map(str, etree.LIBXML_VERSION))}), "
            f"xmllint {xmllint_version(xmllint)}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
        )
        print(
            f"package {zip_path.relative_to(REPO) if zip_path.is_relative_to(REPO) else zip_path}: "
            f"{zip_size / 1e6:.2f} MB ZIP; XML {xml_size / 1e6:.2f} MB, {designs} designs × {args.views} views "
            f"= {designs * args.views} views, {min(designs * args.views, MAX_FILES)} image files (built in {built:.1f} s)"
        )
        print(f"schema  {XSD_NAME} (V6_0, {installed.files} XSD files) installed into a temporary data folder")
        print(
            f"rounds  {args.rounds} (each: xmllint on the XML, xmllint on a one-design XML, "
            f"a fresh hws process with 1 cold + {args.warm} warm calls)",
            flush=True,
        )

        lint, lint_small, cold, warm, parse, xsd_only = [], [], [], [], [], []
        for r in range(args.rounds):
            lint.append(run_xmllint(xmllint, xsd, xml_path))
            lint_small.append(run_xmllint(xmllint, xsd, small_path))
            res = run_child(zip_path, xml_path, schema_root, args.warm)
            if not (res["ok"] and res["schema_checked"]):
                print(
                    f"\nvalidate_package did not accept the package (schema checked: {res['schema_checked']}); "
                    f"problem codes: {', '.join(res['codes']) or '-'}",
                    file=sys.stderr,
                )
                for line in res["errors"]:
                    print(f"  {line}", file=sys.stderr)
                return 1
            cold.append(res["cold"])
            warm += res["warm"]
            parse += res["parse"]
            xsd_only += res["xsd"]
            print(
                f"  round {r + 1}: xmllint {fmt(lint[-1]).strip()}, hws cold {fmt(cold[-1]).strip()}, "
                f"warm {fmt(statistics.median(res['warm'])).strip()}",
                flush=True,
            )
        print(f"  report: accepted, official XSD applied, problem codes: {', '.join(res['codes']) or 'none'}")

        med = statistics.median
        rows = [
            ("xmllint --noout --schema (new process, incl. XSD compile)", lint),
            ("xmllint on the one-design XML (≈ start-up + XSD compile)", lint_small),
            ("hws validate_package(ZIP), cold (fresh process, incl. XSD compile)", cold),
            ("hws validate_package(ZIP), warm (XSD cached)", warm),
            ("hws XSD only: compiled schema on the parsed tree, warm", xsd_only),
            ("hws hardened parse only (safexml.parse of the XML bytes)", parse),
        ]
        width = max(len(name) for name, _ in rows)
        print()
        print(f"{'measurement':<{width}}  {'median':>12}  {'min':>12}  runs")
        for name, values in rows:
            print(f"{name:<{width}}  {fmt(med(values))}  {fmt(min(values))}  {len(values):>4}")
        anchor = med(lint)
        print()
        for label, value in (("warm", med(warm)), ("cold", med(cold))):
            ratio = value / anchor
            verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
            print(f"ratio hws {label} / xmllint = {ratio:.2f}×  ({verdict} the target ≤ {TARGET_RATIO}×)")
        compile_share = med(lint_small)
        print(
            f"xmllint minus its one-design run (≈ its parse + validation alone): {fmt(anchor - compile_share).strip()}; "
            f"hws warm minus XSD-only: {fmt(med(warm) - med(xsd_only)).strip()} (ZIP, parse, rules, references)"
        )
        print(f"load average {os.getloadavg()[0]:.2f} after (anything else running on the machine skews the numbers)")

        if args.profile:
            profile(zip_path, schema_root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
