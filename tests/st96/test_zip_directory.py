"""An archive's central directory is sized up before it is read (issue 9, item 5).

2,000,000 empty entries once took the import worker from 204 to 1,220 MiB before
``zip-too-many-entries``: zipfile builds an object per central directory entry before
any limit applies. Now the end records' counts and the directory's size and headers are
checked first; the refusal costs the worker a few megabytes.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from hws.st96.zipsafe import ZipLimits, read_zip

LOCAL = struct.Struct("<4s5H3L2H")  # local file header, 30 bytes
CENTRAL = struct.Struct("<4s6H3L5H2L")  # central directory header, 46 bytes
EOCD = struct.Struct("<4s4H2LH")
ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
ZIP64_LOCATOR = struct.Struct("<4sLQL")
EMPTY_CRC = zlib.crc32(b"")


def write_empty_entries(path: Path, count: int, *, declare: int | None = None) -> Path:
    """A real ZIP of ``count`` empty stored files (``0000001`` …), zip64 end records when
    needed; ``declare`` puts another entry count in the end records (a lying archive)."""
    locals_, centrals = [], []
    offset = 0
    for n in range(count):
        name = b"%07d" % n
        locals_.append(LOCAL.pack(b"PK\x03\x04", 20, 0, 0, 0, 0, EMPTY_CRC, 0, 0, len(name), 0) + name)
        centrals.append(CENTRAL.pack(b"PK\x01\x02", 20, 20, 0, 0, 0, 0, EMPTY_CRC, 0, 0, len(name), 0, 0, 0, 0, 0, offset) + name)
        offset += LOCAL.size + len(name)
    directory = b"".join(centrals)
    entries = count if declare is None else declare
    with path.open("wb") as out:
        out.write(b"".join(locals_))
        cd_offset = out.tell()
        out.write(directory)
        if entries > 0xFFFE:
            record_at = out.tell()
            out.write(
                ZIP64_EOCD.pack(b"PK\x06\x06", ZIP64_EOCD.size - 12, 45, 45, 0, 0, entries, entries, len(directory), cd_offset)
            )
            out.write(ZIP64_LOCATOR.pack(b"PK\x06\x07", 0, record_at, 1))
            out.write(EOCD.pack(b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
        else:
            out.write(EOCD.pack(b"PK\x05\x06", 0, 0, entries, entries, len(directory), cd_offset, 0))
    return path


def test_the_builder_makes_a_real_archive(tmp_path: Path) -> None:
    for count in (3, 70_000):  # plain and zip64 end records
        path = write_empty_entries(tmp_path / f"{count}.zip", count)
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            assert len(names) == count and names[-1] == "%07d" % (count - 1)
            assert archive.testzip() is None


def test_declared_count_over_the_limit_is_refused_without_reading_the_directory(tmp_path: Path) -> None:
    path = write_empty_entries(tmp_path / "many.zip", 20)
    content = read_zip(path, ZipLimits(max_entries=10))
    assert [p.code for p in content.problems] == ["zip-too-many-entries"]
    assert "declares 20 entries; the limit is 10" in content.problems[0].message


def test_an_archive_that_understates_its_entries_is_counted(tmp_path: Path) -> None:
    path = write_empty_entries(tmp_path / "liar.zip", 50, declare=5)
    content = read_zip(path.read_bytes(), ZipLimits(max_entries=10))
    assert [p.code for p in content.problems] == ["zip-too-many-entries"]
    assert "(its end record says 5)" in content.problems[0].message


def test_a_directory_too_large_for_the_limit_is_refused(tmp_path: Path) -> None:
    path = write_empty_entries(tmp_path / "big-directory.zip", 5000, declare=5)
    content = read_zip(io.BytesIO(path.read_bytes()), ZipLimits(max_entries=10))
    assert [p.code for p in content.problems] == ["zip-too-many-entries"]
    assert "central directory is" in content.problems[0].message


def test_at_the_limit_is_read(tmp_path: Path) -> None:
    path = write_empty_entries(tmp_path / "ten.zip", 10)
    content = read_zip(path, ZipLimits(max_entries=10))
    assert content.problems == [] and len(content.files) == 10


MEASURE = """
import json, resource, sys
from hws.st96.package import validate_package
from hws.st96.zipsafe import ZipLimits
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
report = validate_package(sys.argv[1], office="KR", limits=ZipLimits())
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"codes": sorted(report.codes), "growth_kib": after - before,
                  "messages": [p.message for p in report.problems]}))
"""


@pytest.mark.slow
@pytest.mark.parametrize(("count", "declare"), [(2_000_000, None), (400_000, 5)], ids=["2M-entries", "400k-declaring-5"])
def test_a_two_million_entry_archive_is_refused_at_a_small_cost(tmp_path: Path, count: int, declare: int | None) -> None:
    """What the import worker runs (``validate_package`` with the default limits), in its
    own process so the peak resident size measures this refusal alone."""
    path = write_empty_entries(tmp_path / "entries.zip", count, declare=declare)
    size = path.stat().st_size
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    path.unlink()
    result = json.loads(done.stdout)
    assert result["codes"] == ["zip-too-many-entries"], result
    growth_mib = result["growth_kib"] / 1024
    print(f"{count} entries ({size / 2**20:.0f} MiB archive): peak RSS grew {growth_mib:.1f} MiB")
    assert growth_mib < 50, result
