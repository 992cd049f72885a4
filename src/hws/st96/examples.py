"""A valid description of one package per transaction kind (spec §5).

Starting points for ``hws package build`` (``hws package example KIND`` prints one as
YAML) and fixtures for tests: :func:`example_package` builds the ZIP in memory, with
specimen files for the images and documents.
"""

from __future__ import annotations

import copy
from typing import Any

from hws.st96.builder import build_package
from hws.st96.transactions import TransactionKind

APPLICATION: dict[str, Any] = {
    "transaction": "application",
    "version": "V6_0",
    "office": "KR",
    "request_date": "2024-05-02",
    "office_reference": "KR-2024-0001",
    "filing_date": "2024-05-01",
    "language": "en",
    "applicants": [
        {
            "name": "ACME Corporation",
            "nationality": "KR",
            "country": "KR",
            "address": ["1 Main Street"],
            "city": "Seoul",
            "postal_code": "04524",
            "email": "ip@acme.example",
        }
    ],
    "representative": {"person": "Kim Min-jun", "country": "KR", "address": ["2 Law Street"], "city": "Seoul"},
    "designs": [
        {
            "id": "1",
            "product": "Chair",
            "locarno": "06-01",
            "description": "A chair with three legs",
            "priority": [{"country": "KR", "number": "30-2024-0000123", "date": "2024-01-10"}],
            "views": [
                {"file": "images/1.1.jpg", "type": "Perspective"},
                {"file": "images/1.2.png", "type": "Front"},
            ],
        },
        {"id": "2", "product": "Table", "locarno": "06-03", "views": [{"file": "images/2.1.jpg"}]},
    ],
    "designations": ["EM", {"code": "US", "act": "Act1999"}, "JP"],
    "deferment": {"months": 12},
    "documents": [
        {"file": "docs/dm1.pdf", "kind": "INTERNATIONAL_DESIGN_APPLICATION", "name": "DM/1 form"},
        {"file": "docs/poa.pdf", "kind": "POWER_OF_ATTORNEY"},
    ],
    "payment": {"mode": "Current account", "account": "123456", "holder": "ACME", "amount": "397.00", "currency": "CHF"},
}

_DECISION = {
    "version": "V6_0",
    "office": "KR",
    "request_date": "2024-05-02",
    "irn": "DM/200000",
    "office_reference": "KR-DEC-1",
    "decision_date": "2024-04-30",
    "effective_date": "2024-04-30",
}

DECISIONS: dict[TransactionKind, dict[str, Any]] = {
    TransactionKind.GRANT_PROTECTION: {
        **_DECISION,
        "transaction": "grant",
        "prior_refusal": False,
        "documents": [{"file": "grant.pdf", "kind": "GRANT_OF_PROTECTION_NO_PRIOR_REFUSAL"}],
    },
    TransactionKind.REFUSAL: {
        **_DECISION,
        "transaction": "refusal",
        "affected_designs": ["1", "2"],
        "grounds": [{"text": "Lack of novelty over KR 30-2020-1", "category": "Lack of novelty"}],
        "legal_provision": "Design Protection Act, Art. 33",
        "remedy": "Appeal within 3 months",
        "documents": [{"file": "refusal.pdf", "kind": "REFUSAL_DECISION"}],
    },
    TransactionKind.REFUSAL_WITHDRAWAL: {
        **_DECISION,
        "transaction": "refusal-withdrawal",
        "documents": [{"file": "withdrawal.pdf", "kind": "GRANT_OF_PROTECTION_AFTER_REFUSAL"}],
    },
    TransactionKind.INVALIDATION: {
        **_DECISION,
        "transaction": "invalidation",
        "remedy": "None",
        "documents": [{"file": "invalidation.pdf", "kind": "INVALIDATION"}],
    },
    TransactionKind.DIVISION: {
        **_DECISION,
        "transaction": "division",
        "division": [{"design": "1", "application_number": "30-2024-0000999"}, {"design": "2"}],
        "documents": [{"file": "division.pdf", "kind": "DIVISION"}],
    },
    TransactionKind.SECOND_PART_FEE_PAYABLE: {
        **_DECISION,
        "transaction": "second-part-fee-payable",
        "payment_due_date": "2024-07-30",
        "affected_designs": "all",
        "business_status": "Small",
    },
    TransactionKind.SECOND_PART_FEE_PAID: {
        **_DECISION,
        "transaction": "second-part-fee-paid",
        "designated": {"code": "KR", "act": "Act1999"},
        "payment_date": "2024-05-01",
        "fee_calculation_date": "2024-05-01",
    },
    TransactionKind.CANCELLATION_NON_PAYMENT: {
        **_DECISION,
        "transaction": "cancellation",
        "affected_designs": "all",
        "documents": [{"file": "cancellation.pdf", "kind": "MISCELLANEOUS"}],
    },
    TransactionKind.GENERIC_OFFICE_COMMUNICATION: {
        **_DECISION,
        "transaction": "generic",
        "category": "Refusal owner change",
        "documents": [{"file": "ownership.pdf", "kind": "REFUSAL_OWNERSHIP_CHANGE"}],
    },
}

ALL: dict[TransactionKind, dict[str, Any]] = {TransactionKind.APPLICATION: APPLICATION, **DECISIONS}


def example_spec(kind: TransactionKind | str = TransactionKind.APPLICATION, **changes: Any) -> dict[str, Any]:
    """A fresh copy of the example description of ``kind``, with top-level ``changes``
    (a change to None removes the key)."""
    if isinstance(kind, str):
        kind = TransactionKind.parse(kind)
    out = copy.deepcopy(ALL[kind])
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


def example_package(kind: TransactionKind | str = TransactionKind.APPLICATION, **changes: Any) -> bytes:
    """The ZIP of :func:`example_spec`, with specimen JPEG/PNG/PDF files."""
    return build_package(example_spec(kind, **changes), fill_missing=True)
