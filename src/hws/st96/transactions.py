"""The Office → IB transaction kinds (spec §5) and their document rules.

Each kind is the local name of the element inside ``dgn:HagueOfficeToIBBag``. The
``com:DocumentKindCategory`` values are WIPO's published lists
(``wipo-public-facts.md`` §2.4). Where WIPO publishes no value or rule the choice is
ours and marked so.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TransactionKind(StrEnum):
    APPLICATION = "HagueApplication"
    GRANT_PROTECTION = "HagueGrantProtectionRequest"
    REFUSAL = "HagueRefusalRequest"
    REFUSAL_WITHDRAWAL = "HagueRefusalWithdrawalRequest"
    INVALIDATION = "HagueInvalidationRequest"
    DIVISION = "HagueDivision"
    SECOND_PART_FEE_PAYABLE = "HagueSecondPartFeePayable"
    SECOND_PART_FEE_PAID = "HagueSecondPartFeePaid"
    CANCELLATION_NON_PAYMENT = "HagueCancellationNonPaymentRequest"
    GENERIC_OFFICE_COMMUNICATION = "HagueGenericOfficeCommunication"

    @property
    def is_decision(self) -> bool:
        return self is not TransactionKind.APPLICATION

    @property
    def rule(self) -> DocumentRule:
        return DOCUMENT_RULES[self]

    @property
    def header_category(self) -> str:
        """The ``dgn:HagueOfficeTransactionCategory`` value for this kind."""
        return HEADER_CATEGORIES[self]

    @classmethod
    def parse(cls, text: str) -> TransactionKind:
        """Accept the element name (``HagueRefusalRequest``) or a short alias (``refusal``)."""
        key = text.strip()
        for kind in cls:
            if key == kind.value or key == kind.name or key.lower() == kind.name.lower():
                return kind
        alias = ALIASES.get(key.lower().replace("_", "-").replace(" ", "-"))
        if alias is None:
            choices = ", ".join(sorted({*ALIASES, *(k.value for k in cls)}))
            raise ValueError(f"unknown transaction kind {text!r}; one of: {choices}")
        return alias


REPRODUCTION_SHEETS = "REPRODUCTION_SHEETS"

APPLICATION_KINDS = frozenset({"INTERNATIONAL_DESIGN_APPLICATION", "POWER_OF_ATTORNEY", "MISCELLANEOUS"})

#: every decision value WIPO publishes
DECISION_KINDS = frozenset(
    {
        "REFUSAL_DECISION",
        "GRANT_OF_PROTECTION_AFTER_REFUSAL",
        "GRANT_OF_PROTECTION_NO_PRIOR_REFUSAL",
        "DIVISION",
        "INVALIDATION",
        "REFUSAL_CORRECTION",
        "REFUSAL_WITHDRAWAL_CORRECTION",
        "REFUSAL_OWNERSHIP_CHANGE",
        "REFUSAL_WITHDRAWAL_CHANGE",
    }
)


@dataclass(frozen=True, slots=True)
class DocumentRule:
    """How many PDF documents a transaction carries, and of which kinds."""

    kinds: frozenset[str]
    min_pdfs: int
    max_pdfs: int | None  # None: no upper bound

    def count_ok(self, n: int) -> bool:
        return n >= self.min_pdfs and (self.max_pdfs is None or n <= self.max_pdfs)

    def describe_count(self) -> str:
        if self.max_pdfs == self.min_pdfs:
            return "no PDF document" if self.min_pdfs == 0 else f"exactly {self.min_pdfs} PDF document(s)"
        if self.max_pdfs is None:
            return f"at least {self.min_pdfs} PDF document(s)"
        return f"between {self.min_pdfs} and {self.max_pdfs} PDF documents"


def _one(*kinds: str) -> DocumentRule:
    return DocumentRule(frozenset(kinds), 1, 1)


DOCUMENT_RULES: dict[TransactionKind, DocumentRule] = {
    # WIPO: as many PDFs as needed. Ours: at least the DM/1 form or some document is not
    # required, an office may send the data alone.
    TransactionKind.APPLICATION: DocumentRule(APPLICATION_KINDS, 0, None),
    TransactionKind.GRANT_PROTECTION: _one("GRANT_OF_PROTECTION_AFTER_REFUSAL", "GRANT_OF_PROTECTION_NO_PRIOR_REFUSAL"),
    TransactionKind.REFUSAL: _one("REFUSAL_DECISION"),
    # ours: WIPO publishes no value for a withdrawal of refusal; it amounts to a grant of
    # protection following a refusal (Rule 18bis(2)).
    TransactionKind.REFUSAL_WITHDRAWAL: _one("GRANT_OF_PROTECTION_AFTER_REFUSAL"),
    TransactionKind.INVALIDATION: _one("INVALIDATION"),
    TransactionKind.DIVISION: _one("DIVISION"),
    # the V6_0 schema gives these two no com:DocumentIncludedBag: no document at all
    TransactionKind.SECOND_PART_FEE_PAYABLE: DocumentRule(frozenset(), 0, 0),
    TransactionKind.SECOND_PART_FEE_PAID: DocumentRule(frozenset(), 0, 0),
    # ours: WIPO publishes no value; the document is optional, MISCELLANEOUS if sent
    TransactionKind.CANCELLATION_NON_PAYMENT: DocumentRule(frozenset({"MISCELLANEOUS"}), 0, 1),
    # refined by dgn:HagueGenericOfficeCommunicationCategory, see GENERIC_CATEGORY_RULES
    TransactionKind.GENERIC_OFFICE_COMMUNICATION: _one(*DECISION_KINDS),
}

#: dgn:HagueGenericOfficeCommunicationCategory → the rule its document follows
GENERIC_CATEGORY_RULES: dict[str, DocumentRule] = {
    "Application": DOCUMENT_RULES[TransactionKind.APPLICATION],
    "Grant protection": DOCUMENT_RULES[TransactionKind.GRANT_PROTECTION],
    "Refusal": DOCUMENT_RULES[TransactionKind.REFUSAL],
    "Refusal withdrawal": DOCUMENT_RULES[TransactionKind.REFUSAL_WITHDRAWAL],
    "Invalidation": DOCUMENT_RULES[TransactionKind.INVALIDATION],
    "Division": DOCUMENT_RULES[TransactionKind.DIVISION],
    # ours: sent generically these may carry one document (the specific forms cannot)
    "Second part fee payable": DocumentRule(frozenset({"MISCELLANEOUS"}), 0, 1),
    "Second part fee paid": DocumentRule(frozenset({"MISCELLANEOUS"}), 0, 1),
    "Cancellation non payment": DOCUMENT_RULES[TransactionKind.CANCELLATION_NON_PAYMENT],
    "Refusal owner change": _one("REFUSAL_OWNERSHIP_CHANGE"),
    "Refusal withdrawal owner change": _one("REFUSAL_WITHDRAWAL_CHANGE"),
    "Refusal correction": _one("REFUSAL_CORRECTION"),
    "Refusal correction withdrawal": _one("REFUSAL_WITHDRAWAL_CORRECTION"),
    "Other": DocumentRule(DECISION_KINDS | {"MISCELLANEOUS"}, 1, 1),
}

HEADER_CATEGORIES: dict[TransactionKind, str] = {
    TransactionKind.APPLICATION: "Application",
    TransactionKind.GRANT_PROTECTION: "Grant protection",
    TransactionKind.REFUSAL: "Refusal",
    TransactionKind.REFUSAL_WITHDRAWAL: "Refusal withdrawal",
    TransactionKind.INVALIDATION: "Invalidation",
    TransactionKind.DIVISION: "Division",
    TransactionKind.SECOND_PART_FEE_PAYABLE: "Second part fee payable",
    TransactionKind.SECOND_PART_FEE_PAID: "Second part fee paid",
    TransactionKind.CANCELLATION_NON_PAYMENT: "Cancellation non payment",
    TransactionKind.GENERIC_OFFICE_COMMUNICATION: "Generic office communication",
}

ALIASES: dict[str, TransactionKind] = {
    "application": TransactionKind.APPLICATION,
    "indirect-application": TransactionKind.APPLICATION,
    "grant": TransactionKind.GRANT_PROTECTION,
    "grant-protection": TransactionKind.GRANT_PROTECTION,
    "refusal": TransactionKind.REFUSAL,
    "refusal-withdrawal": TransactionKind.REFUSAL_WITHDRAWAL,
    "withdrawal-of-refusal": TransactionKind.REFUSAL_WITHDRAWAL,
    "invalidation": TransactionKind.INVALIDATION,
    "division": TransactionKind.DIVISION,
    "second-part-fee-payable": TransactionKind.SECOND_PART_FEE_PAYABLE,
    "second-part-fee-paid": TransactionKind.SECOND_PART_FEE_PAID,
    "cancellation": TransactionKind.CANCELLATION_NON_PAYMENT,
    "cancellation-non-payment": TransactionKind.CANCELLATION_NON_PAYMENT,
    "generic": TransactionKind.GENERIC_OFFICE_COMMUNICATION,
    "generic-office-communication": TransactionKind.GENERIC_OFFICE_COMMUNICATION,
}

#: accepted com:st96Version values (spec §5); V7_0 is the version in force
ST96_VERSIONS = ("V7_0", "V6_0", "V4_0", "V3_2")


def document_rule(kind: TransactionKind, generic_category: str | None = None) -> DocumentRule:
    if kind is TransactionKind.GENERIC_OFFICE_COMMUNICATION and generic_category in GENERIC_CATEGORY_RULES:
        return GENERIC_CATEGORY_RULES[generic_category]
    return DOCUMENT_RULES[kind]
