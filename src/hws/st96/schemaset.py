"""Official ST.96 schema sets installed by the operator, one folder per version.

WIPO's XSDs are not ours to ship: the operator installs them (``hws admin schemas
install DIR|ZIP``) into ``<data_dir>/schemas/<version>/``, keeping the relative layout
the schemas use to include each other. A document is validated against the set named by
its ``com:st96Version``. Each XSD is compiled once per process and cached; compiling
never touches the network (every include must resolve inside the set).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, cast
from urllib.parse import unquote, urlparse

from lxml import etree

from hws.st96.zipsafe import ZipLimits, check_entry_name, read_zip

OFFICE_TO_IB = "HagueOfficeToIBTransaction"
IB_TO_OFFICE = "HagueIBToOfficeTransaction"

_VERSION = re.compile(r"^V\d+_\d+$")
_XSD_NS = "http://www.w3.org/2001/XMLSchema"
_ENTRY_NAME = re.compile(rf"^(?:{OFFICE_TO_IB}|{IB_TO_OFFICE})_(V\d+_\d+)\.xsd$")
_SCHEMA_ZIP_LIMITS = ZipLimits(max_entries=5000, max_total_bytes=256 * 1024 * 1024, max_entry_bytes=32 * 1024 * 1024)


class SchemaError(Exception):
    """A schema set cannot be installed or compiled; the message says why."""


def _xsd_parser(root: Path) -> etree.XMLParser:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    parser.resolvers.add(_InsideOnly(root))
    return parser


class _InsideOnly(etree.Resolver):
    """Let libxml2 load only files inside the schema set; refuse everything else."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root.resolve()

    def resolve(self, system_url: str | None, public_id: str | None, context: object = None) -> None:
        if not system_url:
            raise SchemaError("a schema import without a location")
        parsed = urlparse(system_url)
        if parsed.scheme not in ("", "file") or parsed.netloc:
            raise SchemaError(f"schema location {system_url!r} is not a local file; refusing network access")
        path = Path(unquote(parsed.path)).resolve()
        if not path.is_relative_to(self.root):
            raise SchemaError(f"schema location {system_url!r} is outside the schema set")
        return None  # let libxml2 read the local file itself


@dataclass
class _Compiled:
    schema: etree.XMLSchema
    lock: threading.Lock = field(default_factory=threading.Lock)

    def errors(self, tree: etree._ElementTree, limit: int) -> list[etree._LogEntry]:
        """Validate ``tree``; the schema's error log is per object, hence the lock."""
        with self.lock:
            if self.schema.validate(tree):
                return []
            return list(cast(Iterable[etree._LogEntry], self.schema.error_log))[:limit]


_cache: dict[str, _Compiled] = {}
_cache_lock = threading.Lock()
#: held while a set compiles (seconds for WIPO's): others asking for it wait, not compile too
_compile_lock = threading.Lock()


def _fingerprint(entry: Path, root: Path) -> str:
    """Content hash of the whole set plus the entry point: the same WIPO set installed in
    two places (or re-installed) is compiled once."""
    digest = hashlib.sha256(entry.name.encode())
    for path in sorted(root.rglob("*.xsd")):
        # relative to the entry point, so that the same set nested deeper hashes the same
        digest.update(b"\0" + os.path.relpath(path, entry.parent).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


#: (entry, root, what stat says of both) → fingerprint: a set is read and hashed once per
#: process, not on every validation. An installation replaces the set's folder as a whole
#: (a new directory: a new inode), and an edited entry point changes its size or mtime;
#: either makes a new key, so the set is hashed (and, if its content changed, compiled) again.
_fingerprints: dict[tuple[object, ...], str] = {}


def _stat_key(entry: Path, root: Path) -> tuple[object, ...]:
    folder, file = root.stat(), entry.stat()
    return (str(entry), str(root), folder.st_ino, folder.st_mtime_ns, file.st_ino, file.st_size, file.st_mtime_ns)


def _known_fingerprint(entry: Path, root: Path) -> str:
    key = _stat_key(entry, root)
    with _cache_lock:
        known = _fingerprints.get(key)
    if known is None:
        known = _fingerprint(entry, root)
        with _cache_lock:
            _fingerprints[key] = known
    return known


def compile_schema(path: Path, root: Path | None = None) -> _Compiled:
    """Compile ``path`` (once per process for a given content; cached)."""
    path = path.resolve()
    root = (root or path.parent).resolve()
    try:
        key = _known_fingerprint(path, root)
    except (OSError, ValueError) as exc:
        raise SchemaError(f"{path} cannot be read: {exc}") from None
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    with _compile_lock:  # one compile at a time: a second caller waits for the first's result
        with _cache_lock:
            hit = _cache.get(key)
        if hit is not None:
            return hit
        try:
            doc = etree.parse(str(path), _xsd_parser(root))
            compiled = _Compiled(etree.XMLSchema(doc))
        except (etree.XMLSyntaxError, etree.XMLSchemaParseError, OSError) as exc:
            raise SchemaError(f"{path.name} does not compile: {exc}") from None
        with _cache_lock:
            return _cache.setdefault(key, compiled)


class SchemaSet:
    """A folder of installed schema sets: ``<root>/<version>/…/HagueOfficeToIBTransaction_<version>.xsd``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"SchemaSet({str(self.root)!r})"

    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _VERSION.match(p.name))

    def entry_point(self, version: str, document: str = OFFICE_TO_IB) -> Path | None:
        """The XSD to compile for ``document`` in ``version``, or None when not installed."""
        if not _VERSION.match(version):
            return None
        folder = self.root / version
        if not folder.is_dir():
            return None
        wanted = f"{document}_{version}.xsd"
        direct = folder / wanted
        if direct.is_file():
            return direct
        found = sorted(folder.rglob(wanted))
        return found[0] if found else None

    def compiled(self, version: str, document: str = OFFICE_TO_IB) -> _Compiled | None:
        """The compiled schema, None when not installed; :class:`SchemaError` when broken."""
        entry = self.entry_point(version, document)
        if entry is None:
            return None
        return compile_schema(entry, self.root / version)

    def fingerprint(self, version: str, document: str = OFFICE_TO_IB) -> str | None:
        """The content hash the compiled schema is cached under (every XSD of the set and
        the entry point's name), None when ``document`` is not installed for ``version``."""
        entry = self.entry_point(version, document)
        if entry is None:
            return None
        return _known_fingerprint(entry.resolve(), (self.root / version).resolve())

    def warm(self) -> dict[str, str | None]:
        """Compile every installed version now (a job runner does it at start, so that the
        first package after a start does not wait seconds for WIPO's set to compile):
        version → None, or why it does not compile."""
        outcome: dict[str, str | None] = {}
        for version in self.versions():
            try:
                self.compiled(version)
                outcome[version] = None
            except SchemaError as exc:
                outcome[version] = str(exc)
        return outcome


@dataclass(frozen=True, slots=True)
class StructuralOnly:
    """Which declared ``st96Version`` values the service checks by structural rules alone
    when no schema set of that version is installed.

    Otherwise relabelling a document's version (``V7_0`` with only ``V6_0`` installed)
    would skip the schema check. ``versions``: the operator's explicit list (``*`` for
    any); ``None`` is the default: none in production, and in a sandbox any version
    while no schema set at all is installed."""

    versions: frozenset[str] | None = None
    sandbox: bool = False

    def allows(self, version: str, installed: Sequence[str]) -> bool:
        if self.versions is not None:
            return "*" in self.versions or version in self.versions
        return self.sandbox and not installed

    def describe(self, installed: Sequence[str]) -> str:
        """One line for the start-up log and the operator."""
        if self.versions:
            listed = "any version" if "*" in self.versions else ", ".join(sorted(self.versions))
            return (
                f"structural-only validation allowed for {listed} without an installed schema set "
                "(HWS_STRUCTURAL_ONLY_VERSIONS); any other version without one is refused"
            )
        if self.versions is None and self.sandbox and not installed:
            return "sandbox: no schema set installed, so every version gets structural checks only (each import says so)"
        return "a version without an installed schema set is refused (HWS_STRUCTURAL_ONLY_VERSIONS allows one)"


def default_schema_root(data_dir: Path) -> Path:
    return Path(data_dir) / "schemas"


def schema_root_for(folder: Path | str) -> Path:
    """The root of a :class:`SchemaSet` from what a person points at: a folder of installed
    sets (``<dir>/V6_0/…``), or one of WIPO's set folders itself (``…/V6_0``, as
    ``hws admin schemas install`` takes it). :class:`SchemaError` when it is neither."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SchemaError(f"{folder} is not a folder; give WIPO's schema folder (e.g. …/V6_0) or a folder of them")
    if _VERSION.match(folder.name) and any(_ENTRY_NAME.match(p.name) for p in folder.rglob("*.xsd")):
        return folder.parent
    if SchemaSet(folder).versions():
        return folder
    raise SchemaError(
        f"{folder} holds no ST.96 schema set: give WIPO's schema folder named for its version (e.g. …/V6_0, "
        f"holding {OFFICE_TO_IB}_V6_0.xsd) or a folder of such folders"
    )


@dataclass(frozen=True)
class InstalledSchemaSet:
    version: str
    path: Path
    files: int
    documents: tuple[str, ...]


def _collect_from_dir(source: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for p in sorted(source.rglob("*")):
        if p.is_symlink():
            raise SchemaError(f"{p} is a symbolic link; copy the real files")
        if p.is_file() and p.suffix.lower() == ".xsd":
            files[p.relative_to(source).as_posix()] = p.read_bytes()
    return files


def _collect_from_zip(source: Path) -> dict[str, bytes]:
    content = read_zip(source, _SCHEMA_ZIP_LIMITS)
    errors = [p for p in content.problems if p.code != "zip-no-files"]
    if not content.opened or errors:
        raise SchemaError("; ".join(str(p) for p in content.problems) or f"{source} is not a readable ZIP")
    return {name: data for name, data in content.files.items() if name.lower().endswith(".xsd")}


def _check_locations(files: dict[str, bytes]) -> None:
    """Every include/import/redefine must name a relative file inside the set."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    for name, data in files.items():
        try:
            root = etree.fromstring(data, parser)
        except etree.XMLSyntaxError as exc:
            raise SchemaError(f"{name} is not well-formed XML: {exc}") from None
        docinfo: Any = root.getroottree().docinfo  # lxml-stubs lack DocInfo.doctype
        if docinfo.doctype:
            raise SchemaError(f"{name} declares a DOCTYPE; refused")
        for el in root.iter(f"{{{_XSD_NS}}}include", f"{{{_XSD_NS}}}import", f"{{{_XSD_NS}}}redefine"):
            loc = el.get("schemaLocation")
            if loc is None:
                continue
            if urlparse(loc).scheme or loc.startswith("/") or "\\" in loc:
                raise SchemaError(f"{name} refers to {loc!r}; only relative paths inside the set are allowed")
            target = PurePosixPath(name).parent / loc
            parts: list[str] = []
            for part in target.parts:
                if part == "..":
                    if not parts:
                        raise SchemaError(f"{name} refers to {loc!r}, outside the schema set")
                    parts.pop()
                elif part != ".":
                    parts.append(part)
            if "/".join(parts) not in files:
                raise SchemaError(f"{name} refers to {loc!r}, which is not in the schema set")


def _detect_version(files: dict[str, bytes]) -> str:
    versions = {m.group(1) for n in files if (m := _ENTRY_NAME.match(PurePosixPath(n).name))}
    if not versions:
        raise SchemaError(f"no {OFFICE_TO_IB}_<version>.xsd found; point at WIPO's Hague schema folder (e.g. V6_0)")
    if len(versions) > 1:
        raise SchemaError(f"several versions found ({', '.join(sorted(versions))}); install one at a time")
    return versions.pop()


def install_schema_set(source: Path | str, data_dir: Path | str, *, replace: bool = False) -> InstalledSchemaSet:
    """Install the XSDs of ``source`` (a folder or a ZIP) as ``<data_dir>/schemas/<version>``.

    The set is checked (relative includes only, every entry point compiles) in a
    temporary folder first; an existing version is only replaced with ``replace=True``.
    """
    source = Path(source)
    if source.is_dir():
        files = _collect_from_dir(source)
    elif source.is_file() and zipfile.is_zipfile(source):
        files = _collect_from_zip(source)
    else:
        raise SchemaError(f"{source} is neither a folder nor a ZIP archive")
    for name in files:
        bad = check_entry_name(name)
        if bad:
            raise SchemaError("; ".join(p.message for p in bad))
    version = _detect_version(files)
    _check_locations(files)  # the layout is kept: entry points are found at any depth

    schemas_root = default_schema_root(Path(data_dir))
    schemas_root.mkdir(parents=True, exist_ok=True)
    target = schemas_root / version
    if target.exists() and not replace:
        raise SchemaError(f"schema set {version} is already installed at {target}; use --replace to replace it")
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=schemas_root))
    try:
        for name, data in files.items():
            dest = staging / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
        documents = []
        for document in (OFFICE_TO_IB, IB_TO_OFFICE):
            found = sorted(staging.rglob(f"{document}_{version}.xsd"))
            if found:
                compile_schema(found[0], staging)
                documents.append(document)
        if target.exists():
            old = schemas_root / f".{version}-old"
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            staging.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return InstalledSchemaSet(version, target, len(files), tuple(documents))


def list_schema_sets(data_dir: Path | str) -> list[InstalledSchemaSet]:
    root = default_schema_root(Path(data_dir))
    sets = SchemaSet(root)
    out = []
    for version in sets.versions():
        folder = root / version
        documents = tuple(d for d in (OFFICE_TO_IB, IB_TO_OFFICE) if sets.entry_point(version, d))
        out.append(InstalledSchemaSet(version, folder, sum(1 for _ in folder.rglob("*.xsd")), documents))
    return out
