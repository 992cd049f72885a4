"""Who may send a decision about an international registration.

A decision (refusal, grant of protection, withdrawal of refusal, invalidation, division,
second part of the designation fee, cancellation for non-payment) is the act of the
Office of a Contracting Party the registration designates (Hague Agreement, Art. 12 and
Rules 18, 18bis, 20, 12(3)); the Office through which the application was filed
(indirect filing, Art. 4(1)(b)) may send only a generic communication about it.
Anyone else's "decision" is refused: recording it would publish, in the Bulletin, an
act of an Office that has no say over the registration.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: the stable problem code of a decision from an Office the rules do not allow
NOT_DESIGNATED = "decision-office-not-designated"

#: transaction kinds only a designated Office may send
DESIGNATED_OFFICE_KINDS = frozenset(
    {
        "HagueGrantProtectionRequest",
        "HagueRefusalRequest",
        "HagueRefusalWithdrawalRequest",
        "HagueInvalidationRequest",
        "HagueDivision",
        "HagueSecondPartFeePayable",
        "HagueSecondPartFeePaid",
        "HagueCancellationNonPaymentRequest",
    }
)
#: what the Office of indirect filing may also send about the registration
FILING_OFFICE_KINDS = frozenset({"HagueGenericOfficeCommunication"})


@dataclass(frozen=True, slots=True)
class SenderRefused:
    """Why ``office`` may not send this decision: a stable ``code`` and a sentence."""

    code: str
    message: str


def check_decision_sender(
    kind: str, sender: str, *, irn: str, designated: Iterable[str], filing_office: str | None
) -> SenderRefused | None:
    """``None`` if ``sender`` may send a ``kind`` about the registration ``irn`` that
    designates ``designated`` and was filed through ``filing_office``; else why not."""
    sender = sender.strip().upper()
    offices = sorted({o.strip().upper() for o in designated})
    if sender in offices:
        return None
    listed = ", ".join(offices) or "no Contracting Party"
    filing = (filing_office or "").strip().upper()
    if sender == filing:
        if kind in FILING_OFFICE_KINDS:
            return None
        allowed = ", ".join(sorted(FILING_OFFICE_KINDS))
        return SenderRefused(
            NOT_DESIGNATED,
            f"{sender} filed {irn} but is not designated by it (it designates {listed}): as the office "
            f"of filing it may send only {allowed} about it, not {kind}",
        )
    return SenderRefused(
        NOT_DESIGNATED,
        f"{irn} does not designate {sender} (it designates {listed}): only a designated office may send {kind} about it",
    )
