"""Where each Office → IB decision kind goes in the Hague Bulletin.

One :class:`DecisionCategory` per bag of ``HagueBulletinTransactionBagType`` (ST.96
V6_0), in that type's order. A kind with no category here (division, second-part fee
payable/paid, generic communications) has no bag: the bulletin leaves it out.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DecisionCategory:
    """Where one Office → IB decision kind goes in the bulletin."""

    request: str  # the Office → IB element, e.g. HagueRefusalRequest
    element: str  # the IB → Office element, e.g. HagueRefusal
    bag: str
    header: str  # dgn:HagueBulletinTransactionCategory
    needs_decision_date: bool = True


#: in the order of ``HagueBulletinTransactionBagType``
DECISION_CATEGORIES: tuple[DecisionCategory, ...] = (
    DecisionCategory("HagueRefusalRequest", "HagueRefusal", "HagueRefusalBag", "Refusal"),
    DecisionCategory(
        "HagueRefusalWithdrawalRequest", "HagueRefusalWithdrawal", "HagueRefusalWithdrawalBag", "Refusal withdrawal"
    ),
    DecisionCategory("HagueGrantProtectionRequest", "HagueGrantProtection", "HagueGrantProtectionBag", "Grant protection"),
    DecisionCategory("HagueInvalidationRequest", "HagueInvalidation", "HagueInvalidationBag", "Invalidation"),
    DecisionCategory(
        "HagueCancellationNonPaymentRequest",
        "HagueCancellationNonPayment",
        "HagueCancellationNonPaymentBag",
        "Cancellation non payment",
        needs_decision_date=False,
    ),
)
_CATEGORY_BY_KIND = {c.request: c for c in DECISION_CATEGORIES} | {c.element: c for c in DECISION_CATEGORIES}


def bulletin_category(kind: str) -> DecisionCategory | None:
    """The bulletin category of a decision kind (``HagueRefusalRequest`` or ``HagueRefusal``), or None."""
    return _CATEGORY_BY_KIND.get(kind)
