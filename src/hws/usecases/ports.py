"""What each use case needs from the service, as typed ports.

:class:`hws.service.Service` satisfies all of them; a test can pass anything that has
the named members. Read-only properties, so a plain attribute satisfies them.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import Engine

from hws.config import Settings
from hws.domain.clock import Clock
from hws.st96.schemaset import SchemaSet, StructuralOnly
from hws.st96.zipsafe import ZipLimits
from hws.store.blobs import BlobStore
from hws.store.jobs import JobQueue
from hws.store.packed_files import StoredFiles


class Recording(Protocol):
    """A database, the settings, and the real clock (receipts, job times)."""

    @property
    def engine(self) -> Engine: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def clock(self) -> Clock: ...


class Queueing(Recording, Protocol):
    @property
    def jobs(self) -> JobQueue: ...


class Examining(Recording, Protocol):
    """Examination follows the business calendar (movable in sandbox mode)."""

    @property
    def calendar(self) -> Clock: ...


class AutoExamining(Examining, Queueing, Protocol):
    pass


class Importing(AutoExamining, Protocol):
    """Import processing reads the package, validates it and stores its files."""

    @property
    def reader(self) -> Engine: ...
    @property
    def blobs(self) -> BlobStore: ...
    @property
    def zip_limits(self) -> ZipLimits: ...
    @property
    def schema_set(self) -> SchemaSet: ...
    @property
    def structural_only(self) -> StructuralOnly: ...


class Publishing(Protocol):
    """The publisher reads the register, writes issues to the blob store, follows the calendar."""

    @property
    def engine(self) -> Engine: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def calendar(self) -> Clock: ...
    @property
    def blobs(self) -> BlobStore: ...
    @property
    def files(self) -> StoredFiles: ...
