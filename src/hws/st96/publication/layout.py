"""Where each file of an issue goes in its ZIP, and in what order.

The XML first, then ``images/<IRN folder>/<file>`` sorted by name, the IRN folder being
the IRN without its slash (``DM/200000`` → ``DM200000``), as WIPO's FTP bulletin does
("directories named after the IRN"). Views are named after their view identifier
(``images/DM200000/1.1.jpg``; ``<design>-<view>`` when identifiers repeat within a
registration); decision documents (since 2023 WIPO ships them beside the reproductions)
``images/DM200000/<DocumentKindCategory>_<office>_<SRN>.pdf``. Each
``dgn:View/com:FileName`` holds the full entry path. In V6_0 only
``dgn:HagueGrantProtection`` can reference its document (``com:DocumentIncludedBag``);
the others are found by folder.

A registration's files are named while its XML is written and queued on disk
(:class:`_Blobs`), to be copied, in entry order, once the XML entry is done.
"""

from __future__ import annotations

import heapq
import itertools
import re
import struct
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from hws.domain.weeks import Week
from hws.st96.publication.model import Decision, PublicationError, Registration, _check_irn, _office

MEDIA_SUFFIX = {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def irn_folder(irn: str) -> str:
    """``DM/200000`` → ``DM200000``: the folder of a registration's files in the ZIP."""
    _check_irn(irn)
    return irn.replace("/", "")


def bulletin_entry_name(week: str) -> str:
    return f"HagueBulletin_{Week.parse(week).id}.xml"


def confidential_copy_entry_name(week: str, office: str) -> str:
    return f"HagueConfidentialCopy_{_office(office)}_{Week.parse(week).id}.xml"


def _safe(text: str, fallback: str) -> str:
    value = _SAFE_NAME.sub("_", text.strip()).strip("._") or fallback
    return value[:80]


def _suffix(media_type: str, file_name: str) -> str:
    return MEDIA_SUFFIX.get(media_type) or PurePosixPath(file_name).suffix.lower() or ".bin"


@dataclass(frozen=True)
class _Blob:
    name: str  # the ZIP entry
    sha256: str


def _view_entries(reg: Registration) -> dict[tuple[int, int], _Blob]:
    """ZIP entry of every view: ``images/<IRN folder>/<view id>.<ext>``, unique per registration."""
    folder = f"images/{irn_folder(reg.irn)}"
    plain = [
        ((i, j), _safe(v.identifier, f"{i + 1}.{j + 1}"), d, v) for i, d in enumerate(reg.designs) for j, v in enumerate(d.views)
    ]
    stems = [stem for _, stem, _, _ in plain]
    unique = len(set(stems)) == len(stems)
    out: dict[tuple[int, int], _Blob] = {}
    used: set[str] = set()
    for (i, j), stem, design, view in plain:
        if not unique:
            stem = f"{_safe(design.identifier, str(i + 1))}-{stem}"
        name = f"{folder}/{stem}{_suffix(view.media_type, view.file_name)}"
        n = 1
        while name in used:  # identifiers that still collide after sanitizing
            n += 1
            name = f"{folder}/{stem}~{n}{_suffix(view.media_type, view.file_name)}"
        used.add(name)
        out[(i, j)] = _Blob(name, view.sha256)
    return out


def _document_entry(dec: Decision) -> _Blob | None:
    doc = dec.document
    if doc is None:
        return None
    label = _safe(doc.kind or (dec.category.element if dec.category else dec.kind), "DECISION")
    name = f"images/{irn_folder(dec.irn)}/{label}_{_office(dec.office)}_{_safe(dec.srn, 'record')}"
    return _Blob(name + _suffix(doc.media_type, doc.file_name), doc.sha256)


_BLOB_RECORD = struct.Struct("<HH")


class _Blobs:
    """The files an issue copies after its XML, in entry order (sorted by name).

    Each registration's views are named while its XML is written (:meth:`views`) and
    queued in a temporary file, not in memory; registrations come in IRN order and the
    IRN folder is a fixed-length prefix, so the queue is already sorted. At the end it is
    merged with the decisions' documents (few, held in memory)."""

    def __init__(self, documents: Iterable[_Blob]) -> None:
        self.documents = sorted(documents, key=lambda b: b.name)
        names = [b.name for b in self.documents]
        dupes = sorted({a for a, b in itertools.pairwise(names) if a == b})
        if dupes:
            raise PublicationError(f"two files would share the entry name(s) {', '.join(dupes)}")
        self.by_folder: dict[str, set[str]] = {}
        for name in names:
            self.by_folder.setdefault(name.rsplit("/", 1)[0], set()).add(name)
        self.queue = tempfile.TemporaryFile(prefix="hws-publication-blobs-")  # noqa: SIM115 - closed by close()

    def close(self) -> None:
        self.queue.close()

    def views(self, reg: Registration) -> Mapping[tuple[int, int], _Blob]:
        """The entry of each view of ``reg`` (see :func:`_view_entries`), queued for copying."""
        views = _view_entries(reg)
        clash = self.by_folder.get(f"images/{irn_folder(reg.irn)}", set()).intersection(b.name for b in views.values())
        if clash:
            raise PublicationError(f"two files would share the entry name(s) {', '.join(sorted(clash))}")
        for blob in sorted(views.values(), key=lambda b: b.name):
            name, sha = blob.name.encode(), blob.sha256.encode()
            self.queue.write(_BLOB_RECORD.pack(len(name), len(sha)) + name + sha)
        return views

    def _queued(self) -> Iterator[_Blob]:
        self.queue.flush()
        self.queue.seek(0)
        read = self.queue.read
        while head := read(_BLOB_RECORD.size):
            n, m = _BLOB_RECORD.unpack(head)
            yield _Blob(read(n).decode(), read(m).decode())

    def __iter__(self) -> Iterator[_Blob]:
        previous = ""
        for blob in heapq.merge(self._queued(), self.documents, key=lambda b: b.name):
            if blob.name <= previous:  # cannot happen with unique, IRN-ordered registrations
                raise PublicationError(f"entry {blob.name} out of order after {previous}")
            previous = blob.name
            yield blob
