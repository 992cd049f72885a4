"""Weekly bulletin build: time grows linearly with the registrations, peak memory stays flat.

For 1,000, 5,000 and 10,000 registrations (``--quick``: 200, 1,000, 2,000) of 10 images
each (2 designs × 5 views), one fresh Python process per size builds the bulletin of one
week twice, timed separately:

1. ``hws.st96.publication.write_bulletin`` to a temporary file (the writer alone);
2. ``hws.usecases.publishing.Publisher(service).build_bulletin(week, inputs)`` — the real
   publisher path: the same writer to a temporary file under the data folder's
   ``blobs/tmp``, then copied into the filesystem blob store (sha-256 while copying,
   fsync, rename). The two results must have the same sha-256 (the writer is
   deterministic) or the script fails.

Inputs are built directly as :class:`hws.st96.publication.Registration` objects, one at a
time while the bulletin is written, through a
:class:`hws.st96.publication.RegistrationStream` in IRN order — what ``Publisher.inputs``
gives the writer, without the service database (10,000 registrations via upload →
validation → examination would take far longer than the build itself, and the
per-registration database reads are not measured here). Each registration has
its own IRN/SRN, two holders, three designations, two designs with product, Locarno
class, description and a priority, and five views per design. The images are a shared
set of 16 real specimen JPEGs (``hws.st96.specimens.jpeg(w, h)``, valid baseline JPEGs of
0.1–4 KiB) stored once in a filesystem blob store; every view references one of them,
so the ZIP holds 10 × N image entries read from the store (the writer checks each one's
sha-256 on the way).

Memory: each child reads its own ``VmHWM`` (peak resident set size, ``/proc/self/status``)
after imports, after creating the input stream and after each build. "writer Δ" is the
peak minus the resident size before the first build: what building costs, the
registrations produced on the way included (nothing is held per registration or per ZIP
entry but the summary's IRN list: the central directory is kept in a temporary file).

Anchor: the linear extrapolation from the smallest size — the table prints
``time(N) / (N/N₀ × time(N₀))`` (1.00 = exactly linear) and the same for peak RSS.

Run from the repository root::

    .venv/bin/python bench/publish.py            # about 1-2 minutes
    .venv/bin/python bench/publish.py --quick    # ~15 seconds

Exit status 0 when every build produced a valid, identical pair of ZIPs. Work files
(the blob store, the bulletins: ~60 MiB at 10,000) live in ``bench/.work/publish/``
(git-ignored) and are deleted at the end (``--keep`` keeps them).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WEEK = "202647"
IMAGES_PER_REGISTRATION = 10
DESIGNS, VIEWS = 2, 5
SPECIMEN_SIZES = [(64 * (1 + i % 4), 64 * (1 + 3 * (i // 4))) for i in range(16)]  # 64..256 × 64..640 px
MiB = 1024 * 1024


def proc_status_kib(field_name: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise KeyError(field_name)


def rss_mib() -> float:
    return proc_status_kib("VmRSS") / 1024


def hwm_mib() -> float:
    return proc_status_kib("VmHWM") / 1024


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


# The shared specimen images (parent) --------------------------------------------------


def store_specimens(data_dir: Path) -> list[str]:
    from hws.st96 import specimens
    from hws.store.blobs import FilesystemBlobStore

    store = FilesystemBlobStore(data_dir / "blobs")
    return [store.put_bytes(specimens.jpeg(w, h)).sha256 for w, h in SPECIMEN_SIZES]


# One size (child) ---------------------------------------------------------------------


def registrations(n: int, images: list[str]) -> Any:
    """A :class:`RegistrationStream` of ``n`` registrations, made one at a time in IRN order."""
    from hws.st96.publication import Design, Designation, Party, Priority, Registration, RegistrationStream, View

    friday = date(2026, 11, 20)  # in week 202647
    holders = (
        Party("Lumière SA", legal_entity_name="Lumière SA", nationality="CH", entitlement_domicile="CH",
              contracting_party="CH", address_lines=("Rue du Rhône 1", "Case postale 5"), city="Genève",
              postal_code="1204", country="CH"),
        Party("Jane Doe", person=True, address_lines=("Somewhere 3",)),
    )  # fmt: skip
    designations = (Designation("EM"), Designation("JP", "Act1999"), Designation("US"))

    def make(i: int) -> Registration:
        designs = []
        for d in range(1, DESIGNS + 1):
            views = tuple(
                View(f"{d}.{v}", "Perspective" if v == 1 else None, f"images/{d}.{v}.jpg",
                     images[(i * IMAGES_PER_REGISTRATION + (d - 1) * VIEWS + v) % len(images)], "image/jpeg")
                for v in range(1, VIEWS + 1)
            )  # fmt: skip
            designs.append(
                Design(
                    identifier=str(d),
                    product=f"Lamp {i}-{d}",
                    locarno_classes=("26-05",),
                    views=views,
                    description=f"A table lamp, variant {d} of registration {i}",
                    priorities=(Priority("CH", date(2026, 5, 2), f"CH-{i}-{d}"),),
                )
            )
        filing = date(2026, 6, 1) + timedelta(days=i % 90)
        return Registration(
            irn=f"DM/{200000 + i:06d}",
            srn=f"{970000000 + i}",
            registration_date=filing + timedelta(days=7),
            filing_date=filing,
            expected_publication_date=friday,
            holders=holders,
            designations=designations,
            designs=tuple(designs),
            language="en",
            office_reference=f"REF-{i}",
        )

    return RegistrationStream(n, lambda: (make(i) for i in range(n)))


def child(n: int, data_dir: Path, images: list[str], xsd: Path | None) -> dict[str, Any]:
    from hws.config import Settings
    from hws.domain.weeks import Week
    from hws.service import build_service
    from hws.st96.publication import write_bulletin
    from hws.usecases.publishing import Publisher, WeekInputs

    result: dict[str, Any] = {"registrations": n, "images": n * IMAGES_PER_REGISTRATION}
    service = build_service(Settings(data_dir=data_dir, public_url="http://127.0.0.1:9"))
    publisher = Publisher(service)
    week = Week.parse(WEEK)
    publication_date = publisher.schedule.publication_date(week)
    result["rss_imports_mib"] = rss_mib()

    started = time.perf_counter()
    regs = registrations(n, images)
    result["inputs_s"] = time.perf_counter() - started
    result["rss_inputs_mib"] = rss_mib()

    # 1. the writer alone, to a temporary file
    with tempfile.NamedTemporaryFile(dir=data_dir, suffix=".zip") as tmp:
        started = time.perf_counter()
        summary = write_bulletin(
            tmp, week=week.id, publication_date=publication_date, registrations=regs, open_blob=service.blobs.open
        )
        tmp.flush()
        result["write_s"] = time.perf_counter() - started
        result["hwm_write_mib"] = hwm_mib()
        writer_sha = sha256_file(Path(tmp.name))
        result["zip_bytes"] = os.path.getsize(tmp.name)
    # 2. the real publisher path: temp file, then into the blob store
    started = time.perf_counter()
    ref, summary2 = publisher.build_bulletin(week, WeekInputs(week, regs, [], lambda office: []))
    result["build_s"] = time.perf_counter() - started
    result["hwm_mib"] = hwm_mib()

    # checks, after the measurements (reading 100k central-directory entries costs memory)
    if ref.sha256 != writer_sha or ref.size != result["zip_bytes"]:
        raise SystemExit(f"{n}: write_bulletin and Publisher.build_bulletin gave different bytes")
    if len(summary.registrations) != n or summary2 != summary or summary.entry_count != 1 + n * IMAGES_PER_REGISTRATION:
        raise SystemExit(f"{n}: unexpected summary")
    path = service.blobs.local_path(ref.sha256)
    assert path is not None
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        xml = zf.read(names[0])
    if len(names) != 1 + n * IMAGES_PER_REGISTRATION or not names[0].startswith("HagueBulletin_"):
        raise SystemExit(f"{n}: the ZIP has {len(names)} entries")
    if xml.count(b"</dgn:HagueRegistration>") != n:
        raise SystemExit(f"{n}: the bulletin XML does not hold {n} registrations")
    result["xml_bytes"] = len(xml)
    if xsd is not None:  # the official schema, when WIPO's set is beside the repository
        from hws.st96 import safexml
        from hws.st96.schemaset import SchemaSet

        errors = (
            SchemaSet(xsd)
            .compiled("V6_0", document="HagueIBToOfficeTransaction")
            .errors(safexml.parse(xml, max_bytes=1 << 31), 10)
        )
        if errors:
            raise SystemExit(f"{n}: the bulletin XML is not valid against HagueIBToOfficeTransaction_V6_0.xsd: {errors}")
        result["xsd_valid"] = True
    result["sha256"] = ref.sha256
    service.blobs.delete(ref.sha256)
    service.close()
    return result


# Parent -------------------------------------------------------------------------------


def run_child(n: int, data_dir: Path, images: list[str], xsd: Path | None) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        str(n),
        "--data",
        str(data_dir),
        "--images",
        ",".join(images),
    ]
    if xsd is not None:
        cmd += ["--xsd", str(xsd)]
    result = subprocess.run(cmd, text=True, capture_output=True, cwd=ROOT, timeout=1800)
    if result.returncode != 0:
        raise SystemExit(f"the child for {n} registrations failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def report(rows: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    base = rows[0]
    print()
    print(f"== Bulletin of week {WEEK}: {DESIGNS} designs x {VIEWS} views per registration, one fresh process per size ==")
    head = (
        f"{'registrations':>13} {'images':>7} {'write_bulletin s':>16} {'build_bulletin s':>16} {'us/reg':>7} "
        f"{'ZIP MiB':>8} {'XML MiB':>8} {'RSS before':>10} {'peak RSS':>9} {'writer Δ':>9} {'t/linear':>8} {'RSS/1st':>8}"
    )
    print(head)
    for r in rows:
        scale = r["registrations"] / base["registrations"]
        linear = r["build_s"] / (scale * base["build_s"])
        print(
            f"{r['registrations']:>13,} {r['images']:>7,} {r['write_s']:>16.2f} {r['build_s']:>16.2f} "
            f"{1e6 * r['build_s'] / r['registrations']:>7.0f} {r['zip_bytes'] / MiB:>8.1f} {r['xml_bytes'] / MiB:>8.1f} "
            f"{r['rss_inputs_mib']:>6.1f} MiB {r['hwm_mib']:>5.1f} MiB {r['hwm_mib'] - r['rss_inputs_mib']:>5.1f} MiB "
            f"{linear:>7.2f}x {r['hwm_mib'] / base['hwm_mib']:>7.2f}x"
        )  # fmt: skip
    last = rows[-1]
    scale = last["registrations"] / base["registrations"]
    print()
    print("columns: seconds are wall time; us/reg = build_bulletin µs per registration; RSS before = resident size before")
    print("the first build (input stream created, no registration made yet); peak RSS = VmHWM after both builds;")
    print("writer Δ = peak RSS - RSS before;")
    print(
        f"t/linear = build time / ({'N'}/{base['registrations']:,} x the {base['registrations']:,} build time); RSS/1st = peak RSS / the first row's."
    )
    print()
    t_lin = last["build_s"] / (scale * base["build_s"])
    w_lin = last["write_s"] / (scale * base["write_s"])
    per_reg = (last["build_s"] / last["registrations"]) / (base["build_s"] / base["registrations"])
    print(
        f"{last['registrations']:,} time / ({scale:.0f} x {base['registrations']:,} time): build_bulletin {t_lin:.2f}x, "
        f"write_bulletin {w_lin:.2f}x  (1.00 = linear); time per registration {last['registrations']:,} vs {base['registrations']:,}: {per_reg:.2f}x"
    )
    print(
        f"peak RSS {last['registrations']:,} / {base['registrations']:,}: {last['hwm_mib'] / base['hwm_mib']:.2f}x "
        f"({base['hwm_mib']:.1f} -> {last['hwm_mib']:.1f} MiB); writer Δ {base['hwm_mib'] - base['rss_inputs_mib']:.1f} -> "
        f"{last['hwm_mib'] - last['rss_inputs_mib']:.1f} MiB; RSS before - after imports {base['rss_inputs_mib'] - base['rss_imports_mib']:.1f} -> "
        f"{last['rss_inputs_mib'] - last['rss_imports_mib']:.1f} MiB"
    )
    print()
    print("JSON " + json.dumps({"rows": rows, **meta}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200, 1000, 2000 registrations")
    parser.add_argument("--sizes", help="registrations per size, comma-separated (default 1000,5000,10000)")
    parser.add_argument("--keep", action="store_true", help="keep bench/.work/publish")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--images", help=argparse.SUPPRESS)
    parser.add_argument("--xsd", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.data, args.images.split(","), args.xsd)))
        return 0
    if not Path("/proc/self/status").exists():
        print("this bench reads /proc (Linux only)", file=sys.stderr)
        return 2
    sizes = [int(s) for s in (args.sizes or ("200,1000,2000" if args.quick else "1000,5000,10000")).split(",")]
    work = HERE / ".work" / "publish"
    shutil.rmtree(work, ignore_errors=True)
    data = work / "data"
    data.mkdir(parents=True)
    try:
        images = store_specimens(data)
        meta = {
            "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.platform()}",
            "python": platform.python_version(),
            "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        }
        schemas = ROOT.parent / "shared" / "st96"
        xsd = schemas if (schemas / "V6_0").is_dir() else None
        if xsd is None:
            print(f"note: WIPO's V6_0 schema set is not at {schemas}: the XML is not checked against the official XSD")
        rows = []
        for i, n in enumerate(sizes):
            print(
                f"building the bulletin of {n:,} registrations ({n * IMAGES_PER_REGISTRATION:,} images) in a fresh process ...",
                flush=True,
            )
            rows.append(run_child(n, data, images, xsd if i == 0 else None))  # the XSD check (after timing) on the first size
        if xsd is not None:
            print(f"the {sizes[0]:,}-registration bulletin XML is valid against the official HagueIBToOfficeTransaction_V6_0.xsd")
        meta["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"\nmachine: {meta['machine']}; python {meta['python']}; load average before {meta['load_before']}, after {meta['load_after']}"
        )
        report(rows, meta)
    finally:
        if args.keep:
            print(f"work files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
