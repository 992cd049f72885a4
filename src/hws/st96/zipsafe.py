"""Reading untrusted ZIP archives within limits.

Nothing in a ZIP header is trusted: entries are inflated as streams with a byte counter
that stops at the configured limits, so a zip bomb costs at most ``max_total_bytes``
of work and ``max_entry_bytes`` of memory. Header values are only used to refuse early.
Names are checked before anything is read; links, special files, encrypted entries and
nested archives are refused.
"""

from __future__ import annotations

import io
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import IO, BinaryIO

from hws.st96.problems import Location, Problem

_CHUNK = 64 * 1024

#: Leading bytes of archive and compressed formats that a package must not nest.
_ARCHIVE_MAGIC = (
    b"PK\x03\x04",  # zip
    b"PK\x05\x06",  # empty zip
    b"PK\x07\x08",  # spanned zip
    b"\x1f\x8b",  # gzip
    b"BZh",  # bzip2
    b"\xfd7zXZ\x00",  # xz
    b"7z\xbc\xaf\x27\x1c",  # 7z
    b"Rar!\x1a\x07",  # rar
    b"\x28\xb5\x2f\xfd",  # zstd
)
_ARCHIVE_SUFFIXES = (".zip", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".tar", ".zst", ".jar")

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class ZipLimits:
    """Limits applied while reading a package (all sizes in bytes)."""

    #: 100 designs (the Hague maximum) × 10 views, with thumbnails, the XML and documents
    max_entries: int = 5000
    max_total_bytes: int = 512 * 1024 * 1024
    max_entry_bytes: int = 64 * 1024 * 1024
    #: uncompressed / compressed, per entry; entries smaller than ``ratio_floor`` are exempt
    max_ratio: float = 100.0
    ratio_floor: int = 64 * 1024


@dataclass(frozen=True, slots=True)
class EntrySpan:
    """Where an entry's bytes lie in its archive, as read: ``size`` bytes from ``offset``,
    stored as they are (``method`` 0) or deflated (8). The service keeps a package's files
    as these spans of the stored package instead of as files of their own."""

    offset: int
    size: int
    method: int


@dataclass(slots=True)
class ZipContent:
    """What could be read safely: file name → bytes, in archive order (directories dropped)."""

    files: dict[str, bytes] = field(default_factory=dict)
    #: file name → its span in the archive, for every file in ``files``
    spans: dict[str, EntrySpan] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: every file entry named in the archive, refused ones included (directories dropped)
    names: list[str] = field(default_factory=list)
    #: False when the archive itself could not be opened
    opened: bool = False


def check_entry_name(name: str, *, raw: str | None = None) -> list[Problem]:
    """Problems with one entry name (``raw`` is the name before zipfile cut it at NUL)."""
    where = Location(entry=name)
    problems: list[Problem] = []
    raw = name if raw is None else raw
    if "\x00" in raw:
        problems.append(Problem("zip-entry-nul", f"entry name {raw!r} contains a NUL character", where))
    if "\\" in raw:
        problems.append(Problem("zip-entry-backslash", f"entry name {raw!r} uses '\\'; use '/' between folders", where))
    if raw.startswith("/") or raw.startswith("\\"):
        problems.append(Problem("zip-entry-absolute", f"entry name {raw!r} is absolute; make it relative", where))
    if _DRIVE.match(raw):
        problems.append(Problem("zip-entry-drive", f"entry name {raw!r} starts with a drive letter", where))
    segments = re.split(r"[/\\]", raw)
    if ".." in segments:
        problems.append(Problem("zip-entry-traversal", f"entry name {raw!r} climbs out of the package with '..'", where))
    stripped = raw.rstrip("/")
    inner = stripped.lstrip("/").split("/") if stripped else []
    if not stripped or "" in inner or "." in inner or _CONTROL.search(raw.replace("\x00", "")):
        problems.append(
            Problem(
                "zip-entry-name-invalid",
                f"entry name {raw!r} is empty, has empty or '.' segments, or control characters",
                where,
            )
        )
    return problems


def _is_dir(info: zipfile.ZipInfo) -> bool:
    return info.filename.endswith("/")


def _entry_mode(info: zipfile.ZipInfo) -> int:
    # Unix mode bits live in the high 16 bits when the archive was made on Unix (3).
    return (info.external_attr >> 16) & 0xFFFF if info.create_system == 3 else 0


def refuse_early(info: zipfile.ZipInfo, limits: ZipLimits) -> Problem | None:
    """Refuse an entry from its header alone, before any byte of it is inflated: links and
    special files, encryption, unsupported compression, nested archives, declared size and
    ratio. (The service's import and the office kit's extraction both use it.)"""
    where = Location(entry=info.filename)
    mode = _entry_mode(info)
    if stat.S_ISLNK(mode):
        return Problem("zip-entry-symlink", "symbolic links are refused; store the file itself", where)
    if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        return Problem("zip-entry-special", "device, pipe or socket entries are refused", where)
    if info.flag_bits & 0x1:
        return Problem("zip-entry-encrypted", "encrypted entries are refused; store the file unencrypted", where)
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return Problem(
            "zip-entry-unsupported",
            f"compression method {info.compress_type} is not supported; use deflate or store",
            where,
        )
    if info.filename.lower().endswith(_ARCHIVE_SUFFIXES):
        return Problem("zip-nested-archive", "archives inside the package are refused; put the files in it directly", where)
    if info.file_size > limits.max_entry_bytes:
        return Problem(
            "zip-entry-too-large",
            f"entry declares {info.file_size} bytes; the limit is {limits.max_entry_bytes}",
            where,
        )
    if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(info.compress_size, 1):
        return Problem(
            "zip-ratio-exceeded",
            f"entry declares a compression ratio of {info.file_size / max(info.compress_size, 1):.0f}:1;"
            f" the limit is {limits.max_ratio:.0f}:1",
            where,
        )
    return None


class EntryRefused(Exception):
    """An entry stopped while inflating; ``fatal``: the whole archive is over its budget."""

    def __init__(self, problem: Problem, *, fatal: bool) -> None:
        super().__init__(problem.message)
        self.problem = problem
        self.fatal = fatal


def inflate_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ZipLimits, budget: int, out: IO[bytes]) -> int:
    """Inflate one entry into ``out`` as a stream, counting real bytes against every limit
    (total ``budget``, per entry, ratio; a nested archive's magic); raises
    :class:`EntryRefused`. Returns the entry's size."""
    where = Location(entry=info.filename)
    count = 0
    with zf.open(info) as stream:
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
            if count == 0 and chunk.startswith(_ARCHIVE_MAGIC):
                raise EntryRefused(
                    Problem("zip-nested-archive", "entry is itself an archive; nested archives are refused", where),
                    fatal=False,
                )
            count += len(chunk)
            if count > budget:
                raise EntryRefused(
                    Problem(
                        "zip-too-large",
                        f"uncompressed content exceeds the limit of {limits.max_total_bytes} bytes (stopped reading here)",
                        where,
                    ),
                    fatal=True,
                )
            if count > limits.max_entry_bytes:
                raise EntryRefused(
                    Problem(
                        "zip-entry-too-large",
                        f"entry inflates beyond the per-entry limit of {limits.max_entry_bytes} bytes",
                        where,
                    ),
                    fatal=False,
                )
            if count > limits.ratio_floor and count > limits.max_ratio * max(info.compress_size, 1):
                raise EntryRefused(
                    Problem(
                        "zip-ratio-exceeded",
                        f"entry inflates beyond a compression ratio of {limits.max_ratio:.0f}:1 (stopped reading)",
                        where,
                    ),
                    fatal=False,
                )
            out.write(chunk)
    return count


_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # local file header (APPNOTE 4.3.7), 30 bytes


def _span(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> EntrySpan:
    """The entry's data span, from its local header (whose name and extra field may differ
    in length from the central directory's; zipfile checks the name when it reads it)."""
    assert zf.fp is not None  # the archive is open
    zf.fp.seek(info.header_offset)
    header = _LOCAL_HEADER.unpack(zf.fp.read(_LOCAL_HEADER.size))
    name_length, extra_length = header[9], header[10]
    return EntrySpan(info.header_offset + _LOCAL_HEADER.size + name_length + extra_length, info.compress_size, info.compress_type)


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ZipLimits, budget: int) -> bytes:
    out = io.BytesIO()
    inflate_entry(zf, info, limits, budget, out)
    return out.getvalue()


def read_zip(source: bytes | str | PathLike[str] | BinaryIO, limits: ZipLimits | None = None) -> ZipContent:
    """Read every acceptable file of a ZIP archive; report every problem found.

    Never raises for bad input. Entries with a problem are left out of ``files``.
    """
    limits = limits or ZipLimits()
    result = ZipContent()
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            result.problems.append(Problem("zip-empty", "the package is empty; send a ZIP archive"))
            return result
        fileobj: BinaryIO | str | PathLike[str] = io.BytesIO(bytes(source))
    else:
        fileobj = source
    try:
        refused = _refuse_directory(fileobj, limits)
        if refused is not None:
            result.problems.append(refused)
            return result
        zf = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        result.problems.append(
            Problem(
                "zip-not-a-zip",
                f"the package is not a readable ZIP archive ({exc}); it may be truncated or of another format",
            )
        )
        return result
    result.opened = True
    with zf:
        _read_all(zf, limits, result)
    return result


# The central directory, sized up before zipfile reads it -------------------------------------

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record (APPNOTE 4.3.16)
_ZIP64_LOCATOR = struct.Struct("<4sLQL")  # zip64 end of central directory locator (4.3.15)
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")  # zip64 end of central directory record (4.3.14)
_CD_HEADER = struct.Struct("<4s4B4HL2L5H2L")  # central directory file header (4.3.12), 46 bytes
_CD_SIGNATURE = b"PK\x01\x02"
#: central directory bytes allowed per permitted entry: the 46-byte header and 978 bytes
#: of name, extra field and comment (ours need a tenth of that)
CD_BYTES_PER_ENTRY = 1024


def _directory_size(fp: BinaryIO) -> tuple[int, int, int] | None:
    """(entries, size, start) of the central directory as the end records declare them,
    found as zipfile finds them (the last signature in the file's last 64 KiB); ``None``
    when there is no end record (zipfile then says what is wrong)."""
    fp.seek(0, io.SEEK_END)
    size = fp.tell()
    tail_length = min(size, _EOCD.size + 0xFFFF)
    fp.seek(size - tail_length)
    tail = fp.read(tail_length)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        return None
    _, _, _, _, entries, cd_size, _, _ = _EOCD.unpack_from(tail, at)
    location = size - tail_length + at
    locator_at = at - _ZIP64_LOCATOR.size
    if locator_at >= 0 and tail[locator_at : locator_at + 4] == b"PK\x06\x07":
        record_at = location - _ZIP64_LOCATOR.size - _ZIP64_EOCD.size  # where zipfile reads it
        if record_at >= 0:
            fp.seek(record_at)
            record = fp.read(_ZIP64_EOCD.size)
            if len(record) == _ZIP64_EOCD.size and record[:4] == b"PK\x06\x06":
                fields = _ZIP64_EOCD.unpack(record)
                entries, cd_size, location = fields[7], fields[8], record_at
    # the directory ends where the end records begin (zipfile reads it there too, whatever
    # offset the record states, so that data prepended to an archive is tolerated)
    return entries, cd_size, max(location - cd_size, 0)


def _count_directory(fp: BinaryIO, offset: int, size: int, stop_after: int) -> int:
    """Walk the central directory's headers without keeping them; stop past ``stop_after``."""
    fp.seek(offset)
    directory = fp.read(size)
    count = at = 0
    while at + _CD_HEADER.size <= len(directory) and count <= stop_after:
        header = _CD_HEADER.unpack_from(directory, at)
        if header[0] != _CD_SIGNATURE:
            break
        name_length, extra_length, comment_length = header[12], header[13], header[14]
        at += _CD_HEADER.size + name_length + extra_length + comment_length
        count += 1
    return count


def _refuse_directory(source: BinaryIO | str | PathLike[str], limits: ZipLimits) -> Problem | None:
    """``zip-too-many-entries`` from the end records and a count of the directory's headers,
    before zipfile builds an object per entry (2,000,000 empty entries once cost a gigabyte)."""
    if isinstance(source, (str, PathLike)):
        with open(source, "rb") as fp:
            return _refuse_directory(fp, limits)
    start = source.tell()
    try:
        declared = _directory_size(source)
        if declared is None:
            return None
        entries, cd_size, cd_start = declared
        if entries > limits.max_entries:
            return Problem(
                "zip-too-many-entries",
                f"the archive declares {entries} entries; the limit is {limits.max_entries}",
            )
        if cd_size > limits.max_entries * CD_BYTES_PER_ENTRY:
            return Problem(
                "zip-too-many-entries",
                f"the archive's central directory is {cd_size} bytes, more than {limits.max_entries} entries "
                f"need ({CD_BYTES_PER_ENTRY} bytes each at most)",
            )
        counted = _count_directory(source, cd_start, cd_size, limits.max_entries)
        if counted > limits.max_entries:
            return Problem(
                "zip-too-many-entries",
                f"the archive's central directory holds more than {limits.max_entries} entries "
                f"(its end record says {entries}); the limit is {limits.max_entries}",
            )
        return None
    finally:
        source.seek(start)


def refuse_directory(source: BinaryIO | str | PathLike[str], limits: ZipLimits) -> Problem | None:
    """``zip-too-many-entries`` from the archive's end records and central directory, read
    before :class:`zipfile.ZipFile` builds an object per entry (what :func:`read_zip` checks
    first; the office kit's extraction too). None: within the limit, or no end record
    (zipfile then says what is wrong). A file object is left where it was."""
    return _refuse_directory(source, limits)


def refuse_entries(infos: Sequence[zipfile.ZipInfo], limits: ZipLimits) -> Problem | None:
    """Refuse an archive as a whole from its list of entries, before any is inflated: more
    entries than ``max_entries``, or a declared uncompressed total over ``max_total_bytes``
    (:func:`read_zip` and the office kit's extraction both use it)."""
    if len(infos) > limits.max_entries:
        return Problem(
            "zip-too-many-entries",
            f"the archive has {len(infos)} entries; the limit is {limits.max_entries}",
        )
    declared_total = sum(i.file_size for i in infos)
    if declared_total > limits.max_total_bytes:
        return Problem(
            "zip-too-large",
            f"the archive declares {declared_total} uncompressed bytes; the limit is {limits.max_total_bytes}",
        )
    return None


def _read_all(zf: zipfile.ZipFile, limits: ZipLimits, result: ZipContent) -> None:
    infos = zf.infolist()
    refused = refuse_entries(infos, limits)
    if refused is not None:
        result.problems.append(refused)
        return

    result.names = [i.filename for i in infos if not _is_dir(i)]
    seen: dict[str, str] = {}
    seen_folded: dict[str, str] = {}
    readable: list[zipfile.ZipInfo] = []
    for info in infos:
        name_problems = check_entry_name(info.filename, raw=info.orig_filename)
        result.problems.extend(name_problems)
        if info.filename in seen:
            result.problems.append(
                Problem("zip-entry-duplicate", f"entry {info.filename!r} appears more than once", Location(entry=info.filename))
            )
            continue
        folded = info.filename.casefold()
        if folded in seen_folded:
            result.problems.append(
                Problem(
                    "zip-entry-case-duplicate",
                    f"entries {seen_folded[folded]!r} and {info.filename!r} differ only by letter case",
                    Location(entry=info.filename),
                )
            )
            continue
        seen[info.filename] = info.filename
        seen_folded[folded] = info.filename
        if name_problems:
            continue
        early = refuse_early(info, limits)
        if early is not None:
            result.problems.append(early)
            continue
        if not _is_dir(info):
            readable.append(info)

    budget = limits.max_total_bytes
    for info in readable:
        try:
            # the span first: zipfile then reads the same local header again, from the
            # source's buffer (on S3, no second ranged GET)
            span = _span(zf, info)
            data = _read_entry(zf, info, limits, budget)
        except EntryRefused as stop:
            result.problems.append(stop.problem)
            if stop.fatal:
                return
            continue
        except (
            zipfile.BadZipFile,
            zlib.error,
            EOFError,
            OSError,
            ValueError,
            NotImplementedError,
            RuntimeError,
            struct.error,
        ) as exc:
            result.problems.append(Problem("zip-corrupt", f"entry cannot be read: {exc}", Location(entry=info.filename)))
            continue
        budget -= len(data)
        result.files[info.filename] = data
        result.spans[info.filename] = span

    if not infos or all(_is_dir(i) for i in infos):
        result.problems.append(Problem("zip-no-files", "the archive holds no files; put the XML and its documents in it"))
