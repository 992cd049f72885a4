"""The weekly publication (spec §7): the Hague Bulletin and the confidential copies.

A pure writer: plain frozen dataclasses in, a ZIP out. No web framework, no database;
the service selects what a week publishes, fills :class:`Registration` and
:class:`Decision` from each request's stored record (:func:`registration_from_content`,
:func:`decision_from_content`) and calls :func:`write_bulletin` once per ISO
week and :func:`write_confidential_copy` once per examining office. The output is
deterministic: the same inputs give the same bytes.

- :mod:`~hws.st96.publication.model` — the inputs, the summary, the errors;
- :mod:`~hws.st96.publication.categories` — which bulletin bag each decision kind goes in;
- :mod:`~hws.st96.publication.from_requests` — inputs from stored service requests;
- :mod:`~hws.st96.publication.documents` — the two writers and the documents' structure;
- :mod:`~hws.st96.publication.elements` — the ST.96 element of each transaction;
- :mod:`~hws.st96.publication.layout` — entry names and order in the ZIP;
- :mod:`~hws.st96.publication.archive` — the ZIP itself and its manifest.
"""

from hws.st96.publication.archive import manifest_line, manifest_sha256
from hws.st96.publication.categories import DECISION_CATEGORIES, DecisionCategory, bulletin_category
from hws.st96.publication.documents import write_bulletin, write_confidential_copy
from hws.st96.publication.from_requests import (
    decision_from_content,
    decision_from_service_request,
    registration_from_content,
    registration_from_service_request,
    stored_content,
)
from hws.st96.publication.layout import bulletin_entry_name, confidential_copy_entry_name, irn_folder
from hws.st96.publication.model import (
    Decision,
    DecisionDocument,
    Design,
    NothingToPublish,
    Priority,
    PublicationError,
    PublicationSummary,
    Registration,
    RegistrationStream,
    View,
)
from hws.st96.reading import Designation, Grounds, Party

__all__ = [
    "DECISION_CATEGORIES",
    "Decision",
    "DecisionCategory",
    "DecisionDocument",
    "Design",
    "Designation",
    "Grounds",
    "NothingToPublish",
    "Party",
    "Priority",
    "PublicationError",
    "PublicationSummary",
    "Registration",
    "RegistrationStream",
    "View",
    "bulletin_category",
    "bulletin_entry_name",
    "confidential_copy_entry_name",
    "decision_from_content",
    "decision_from_service_request",
    "irn_folder",
    "manifest_line",
    "manifest_sha256",
    "registration_from_content",
    "registration_from_service_request",
    "stored_content",
    "write_bulletin",
    "write_confidential_copy",
]
