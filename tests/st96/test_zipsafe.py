"""The ZIP container: every hostile or broken archive of the checklist is rejected,
with its own code, naming the entry, without inflating more than the limits."""

from __future__ import annotations

import io
import warnings
import zipfile

import pytest

from hws.st96.examples import example_package
from hws.st96.package import validate_package
from hws.st96.zipsafe import ZipLimits, read_zip
from tests.st96.repack import entries, raw_zip, repack, set_flag_bits


@pytest.fixture
def inflated(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts every byte zipfile hands out while inflating entries."""
    counter = [0]
    original = zipfile.ZipExtFile.read

    def read(self: zipfile.ZipExtFile, n: int = -1) -> bytes:
        data = original(self, n)
        counter[0] += len(data)
        return data

    monkeypatch.setattr(zipfile.ZipExtFile, "read", read)
    return counter


def codes(data: bytes, **kwargs: object) -> set[str]:
    return validate_package(data, **kwargs).codes  # type: ignore[arg-type]


def problem(data: bytes, code: str, **kwargs: object):
    report = validate_package(data, **kwargs)  # type: ignore[arg-type]
    found = [p for p in report.problems if p.code == code]
    assert found, f"expected {code}, got {[str(p) for p in report.problems]}"
    assert not report.ok and report.content is None
    return found[0]


def test_valid_package_is_accepted() -> None:
    report = validate_package(example_package())
    assert report.ok, [str(p) for p in report.problems]


# --------------------------------------------------------------------------- not a ZIP


def test_empty_body() -> None:
    assert problem(b"", "zip-empty").message


def test_not_a_zip() -> None:
    assert "not a readable ZIP" in problem(b"%PDF-1.4 this is not a zip", "zip-not-a-zip").message


def test_truncated_zip() -> None:
    data = example_package()
    problem(data[: len(data) // 2], "zip-not-a-zip")


def test_truncated_zip_missing_only_the_end() -> None:
    data = example_package()
    problem(data[:-10], "zip-not-a-zip")


def test_bad_crc() -> None:
    pdf_name, pdf_data = next((n, d) for n, d in entries(example_package()) if n.endswith(".pdf"))
    stored = raw_zip([(pdf_name, pdf_data)], compression=zipfile.ZIP_STORED)
    at = stored.index(b"/Type /Catalog")
    corrupted = stored[:at] + b"X" + stored[at + 1 :]
    found = problem(corrupted, "zip-corrupt")
    assert found.where.entry == pdf_name
    assert "CRC" in found.message


# --------------------------------------------------------------------------- zip bombs


def _nested(depth: int) -> bytes:
    data = b"\x00" * 100_000
    for level in range(depth):
        data = raw_zip([(f"layer{level}.zip" if level else "payload.bin", data)] * 1)
    return data


def test_nested_archive_42_zip_style(inflated: list[int]) -> None:
    data = repack(example_package(), add=[("bomb.zip", _nested(4))])
    inflated[0] = 0
    found = problem(data, "zip-nested-archive")
    assert found.where.entry == "bomb.zip"
    assert inflated[0] < 200_000  # only the package's own files were read


def test_nested_archive_disguised_as_pdf(inflated: list[int]) -> None:
    data = repack(example_package(), add=[("docs/annex.pdf", _nested(4))])
    inflated[0] = 0
    found = problem(data, "zip-nested-archive")
    assert found.where.entry == "docs/annex.pdf"
    assert inflated[0] < 200_000


def test_ratio_limit(inflated: list[int]) -> None:
    data = repack(example_package(), add=[("docs/zeros.pdf", b"%PDF-" + b"\x00" * 20_000_000)])
    inflated[0] = 0
    found = problem(data, "zip-ratio-exceeded")
    assert found.where.entry == "docs/zeros.pdf"
    assert inflated[0] < 200_000  # refused from the header, nothing inflated


def test_ratio_limit_while_streaming_when_header_lies(inflated: list[int]) -> None:
    """The header claims a modest size: the stream counter still stops the bomb."""
    limits = ZipLimits(max_ratio=10, ratio_floor=1024)
    data = raw_zip([("a.pdf", b"%PDF-" + b"\x00" * 5_000_000)])
    # claim 100 kB uncompressed in both headers (ratio under the limit on paper)
    info = zipfile.ZipFile(io.BytesIO(data)).infolist()[0]
    real = info.file_size.to_bytes(4, "little")
    assert data.count(real) == 2
    data = data.replace(real, (10 * info.compress_size).to_bytes(4, "little"))
    inflated[0] = 0
    content = read_zip(data, limits)
    assert {p.code for p in content.problems} & {"zip-ratio-exceeded", "zip-corrupt"}
    assert "a.pdf" not in content.files
    assert inflated[0] <= 10 * info.compress_size + 64 * 1024


def test_total_uncompressed_limit(inflated: list[int]) -> None:
    limits = ZipLimits(max_total_bytes=1_000_000)
    big = bytes((i * 7919) % 251 for i in range(400_000))  # poorly compressible
    data = repack(example_package(), add=[(f"docs/part{i}.pdf", b"%PDF-" + big) for i in range(3)])
    inflated[0] = 0
    found = problem(data, "zip-too-large", limits=limits)
    assert "1000000" in found.message
    assert inflated[0] == 0


def test_stream_counter_stops_at_the_budget() -> None:
    """zipfile caps reads at the declared size; our own counter is the second fence."""
    from hws.st96 import zipsafe

    big = bytes((i * 7919) % 251 for i in range(300_000))
    zf = zipfile.ZipFile(io.BytesIO(raw_zip([("a.pdf", b"%PDF-" + big)])))
    with pytest.raises(zipsafe.EntryRefused) as stop:
        zipsafe._read_entry(zf, zf.infolist()[0], ZipLimits(), budget=100_000)
    assert stop.value.fatal and stop.value.problem.code == "zip-too-large"


def test_entry_count_limit(inflated: list[int]) -> None:
    data = repack(example_package(), add=[(f"extra/{i}.pdf", b"%PDF-1.4") for i in range(20)])
    inflated[0] = 0
    found = problem(data, "zip-too-many-entries", limits=ZipLimits(max_entries=10))
    assert "10" in found.message
    assert inflated[0] == 0


def test_per_entry_limit() -> None:
    big = bytes((i * 7919) % 251 for i in range(300_000))
    data = repack(example_package(), add=[("docs/big.pdf", b"%PDF-" + big)])
    found = problem(data, "zip-entry-too-large", limits=ZipLimits(max_entry_bytes=100_000))
    assert found.where.entry == "docs/big.pdf"


# --------------------------------------------------------------------------- entry names


def _with_member(name: str, data: bytes = b"%PDF-1.4 x") -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return repack(example_package(), add=[(name, data)])


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("/etc/x.pdf", "zip-entry-absolute"),
        ("../x.pdf", "zip-entry-traversal"),
        ("docs/../../x.pdf", "zip-entry-traversal"),
        ("docs\\x.pdf", "zip-entry-backslash"),
        ("C:/x.pdf", "zip-entry-drive"),
        ("c:x.pdf", "zip-entry-drive"),
        ("docs//x.pdf", "zip-entry-name-invalid"),
        ("docs/./x.pdf", "zip-entry-name-invalid"),
        ("docs/\x07x.pdf", "zip-entry-name-invalid"),
    ],
)
def test_bad_entry_names(name: str, code: str) -> None:
    found = problem(_with_member(name), code)
    assert found.where.entry is not None


def test_nul_in_entry_name() -> None:
    data = _with_member("docs/aXb.pdf")
    data = data.replace(b"docs/aXb.pdf", b"docs/a\x00b.pdf")
    found = problem(data, "zip-entry-nul")
    assert "\\x00" in found.message


def test_duplicate_entry_names() -> None:
    pkg = example_package()
    name, data = entries(pkg)[1]
    found = problem(_with_member(name, data), "zip-entry-duplicate")
    assert found.where.entry == name


def test_case_only_duplicate_names() -> None:
    pkg = example_package()
    name, data = entries(pkg)[1]
    found = problem(_with_member(name.upper(), data), "zip-entry-case-duplicate")
    assert name in found.message and name.upper() in found.message


# --------------------------------------------------------------------------- entry kinds


def _info(name: str, mode: int = 0o100644) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.create_system = 3
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def test_symlink_entry(inflated: list[int]) -> None:
    data = repack(example_package(), add=[(_info("docs/link.pdf", 0o120777), b"/etc/passwd")])
    found = problem(data, "zip-entry-symlink")
    assert found.where.entry == "docs/link.pdf"


def test_special_file_entry() -> None:
    data = repack(example_package(), add=[(_info("docs/fifo.pdf", 0o010644), b"")])
    problem(data, "zip-entry-special")


def test_encrypted_entry() -> None:
    data = repack(example_package(), add=[("docs/secret.pdf", b"%PDF-1.4")])
    data = set_flag_bits(data, "docs/secret.pdf", 0x1)
    found = problem(data, "zip-entry-encrypted")
    assert found.where.entry == "docs/secret.pdf"


def test_unsupported_compression() -> None:
    info = _info("docs/x.pdf")
    info.compress_type = zipfile.ZIP_BZIP2
    data = raw_zip([(info, b"%PDF-1.4 hello")])
    assert "zip-entry-unsupported" in codes(data)


def test_directories_only() -> None:
    data = raw_zip([(_info("a/", 0o040755), b""), (_info("a/b/", 0o040755), b"")])
    assert {"zip-no-files", "package-no-xml"} <= codes(data)


def test_refused_entry_is_not_also_reported_missing() -> None:
    pkg = example_package()
    name, _data = entries(pkg)[1]
    broken = set_flag_bits(pkg, name, 0x1)
    report = validate_package(broken)
    assert "zip-entry-encrypted" in report.codes
    assert "reference-missing" not in report.codes
