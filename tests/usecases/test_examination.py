"""Examination: operator actions, automatic policy, deadline sweeper (in process)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from hws.domain.clock import FixedClock
from hws.st96.builder import build_package
from hws.st96.examples import example_package, example_spec
from hws.store import service_requests as sr_store
from hws.usecases.examination import ExaminationError, Examiner
from hws.worker.runner import Worker
from tests.conftest import enrol, make_service

START = 1_795_000_000  # 2026-11-18, a Wednesday


def receive(service, office, package: bytes) -> None:  # type: ignore[no-untyped-def]
    from hws.usecases.intake import record_receipt

    blob = service.blobs.put_bytes(package)
    record_receipt(service, service.registry.get(office.client_id), blob, None)


def cure_package(office: str, reference: str) -> bytes:
    """The office's answer to an irregularity: a generic communication (category
    Application) carrying the application's office reference."""
    return example_package(
        "HagueGenericOfficeCommunication",
        office=office,
        office_reference=reference,
        irn=None,
        category="Application",
        documents=[{"file": "cure.pdf", "kind": "MISCELLANEOUS"}],
    )


def drain(service) -> None:  # type: ignore[no-untyped-def]
    worker = Worker(service)
    while worker.run_once():
        pass


@pytest.fixture
def manual(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    clock = FixedClock(START)
    service = make_service(tmp_path, database_url, clock=clock, worker_threads=0)
    yield service, clock
    service.close()


def test_manual_life_cycle(manual) -> None:  # type: ignore[no-untyped-def]
    service, _clock = manual
    office = enrol(service, office="KR")
    receive(service, office, example_package("application", office="KR"))
    drain(service)
    examiner = Examiner(service)
    sr = examiner.take_up("970000001", actor="op:anna")
    assert sr.status == "Processing"
    sr = examiner.notify_irregularity("970000001", actor="op:anna", reason="reproduction 1.2 unclear")
    assert sr.status == "Pending Regularization" and sr.regularization_deadline == date(2027, 2, 18)
    sr = examiner.regularize("970000001", actor="op:anna", reason="new reproduction received")
    assert sr.status == "Processing" and sr.regularization_deadline is None
    sr = examiner.register("970000001", actor="op:anna")
    assert sr.status == "Registered" and sr.irn == "DM/200001"
    # the example defers publication 12 months from the priority date (2024-01-10): already over → next issue
    assert sr.expected_publication == date(2026, 11, 20)
    history = sr_store.history(service.engine, sr.srn)
    assert [(e["from"], e["to"], e["actor"]) for e in history] == [
        (None, "Undefined", "import"),
        ("Undefined", "Processing", "op:anna"),
        ("Processing", "Pending Regularization", "op:anna"),
        ("Pending Regularization", "Processing", "op:anna"),
        ("Processing", "Registered", "op:anna"),
    ]
    for forbidden in (examiner.take_up, examiner.regularize):
        with pytest.raises(ExaminationError, match="cannot become"):
            forbidden("970000001", actor="op:anna")
    with pytest.raises(ExaminationError, match="cannot become"):
        examiner.cancel("970000001", actor="op:anna", reason="too late")


def test_standard_publication_and_fee_shortfall(manual) -> None:  # type: ignore[no-untyped-def]
    service, _clock = manual
    office = enrol(service, office="KR")
    spec = example_spec("application", office="KR")
    spec.pop("deferment", None)
    spec["deferment"] = None
    receive(service, office, build_package(spec, {}, fill_missing=True))
    drain(service)
    examiner = Examiner(service)
    examiner.take_up("970000001", actor="op")
    sr = examiner.notify_irregularity("970000001", actor="op", reason="fees", fee_shortfall=True)
    assert sr.regularization_deadline == date(2027, 1, 18)
    examiner.regularize("970000001", actor="op")
    sr = examiner.register("970000001", actor="op")
    assert sr.expected_publication is not None and abs(sr.expected_publication - date(2027, 11, 18)) < timedelta(days=7)


def test_decision_needs_a_known_registration(manual) -> None:  # type: ignore[no-untyped-def]
    service, _ = manual
    office = enrol(service, office="KR")
    japan = enrol(service, office="JP")  # designated by the example application
    receive(service, japan, example_package("refusal", office="JP", irn="DM/200001"))
    drain(service)
    examiner = Examiner(service)
    examiner.take_up("970000001", actor="op")
    with pytest.raises(ExaminationError, match="no international registration DM/200001"):
        examiner.register("970000001", actor="op")
    receive(service, office, example_package("application", office="KR"))
    drain(service)
    examiner.take_up("970000002", actor="op")
    assert examiner.register("970000002", actor="op").irn == "DM/200001"
    refusal = examiner.register("970000001", actor="op")
    assert refusal.status == "Registered" and refusal.recorded_against == "970000002"


def test_deadline_sweeper_abandons(manual) -> None:  # type: ignore[no-untyped-def]
    service, clock = manual
    office = enrol(service, office="KR")
    receive(service, office, example_package("application", office="KR"))
    drain(service)
    examiner = Examiner(service)
    examiner.take_up("970000001", actor="op")
    examiner.notify_irregularity("970000001", actor="op", reason="missing reproduction")
    clock.advance(92 * 86400)  # 2027-02-18: the deadline day itself is still allowed
    assert examiner.abandon_overdue() == []
    clock.advance(86400)
    assert examiner.abandon_overdue() == ["970000001"]
    sr = sr_store.get(service.engine, "970000001")
    assert sr.status == "Abandoned" and sr_store.history(service.engine, sr.srn)[-1]["actor"] == "deadline"


def test_reason_required(manual) -> None:  # type: ignore[no-untyped-def]
    service, _ = manual
    office = enrol(service)
    receive(service, office, example_package("application", office="KR"))
    drain(service)
    examiner = Examiner(service)
    with pytest.raises(ExaminationError):
        examiner.cancel("970000001", actor="op", reason=" ")
    examiner.take_up("970000001", actor="op")
    with pytest.raises(ExaminationError):
        examiner.notify_irregularity("970000001", actor="op", reason="")
    assert examiner.cancel("970000001", actor="op", reason="withdrawn by the office").status == "Cancelled"
    with pytest.raises(ExaminationError, match="no service request"):
        examiner.take_up("970999999", actor="op")


@pytest.fixture
def auto(tmp_path: Path, sqlite_url: str):  # type: ignore[no-untyped-def]
    clock = FixedClock(START)
    service = make_service(tmp_path, sqlite_url, clock=clock, worker_threads=0, examination="auto", auto_irregularity="always")
    yield service, clock
    service.close()


def test_auto_irregularity_cured_by_a_communication(auto) -> None:  # type: ignore[no-untyped-def]
    service, _ = auto
    office = enrol(service, office="KR")
    receive(service, office, example_package("application", office="KR", office_reference="KR-APP-1"))
    drain(service)
    sr = sr_store.get(service.engine, "970000001")
    assert sr.status == "Pending Regularization"
    receive(service, office, cure_package("KR", "KR-APP-1"))
    drain(service)
    app = sr_store.get(service.engine, "970000001")
    cure = sr_store.get(service.engine, "970000002")
    assert app.status == "Registered" and app.irn == "DM/200001"
    assert cure.status == "Registered" and cure.recorded_against == "970000001"
    japan = enrol(service, office="JP")  # designated by the example application
    receive(service, japan, example_package("refusal", office="JP", irn="DM/200001"))
    receive(service, japan, example_package("refusal", office="JP", irn="DM/299999"))
    drain(service)
    assert sr_store.get(service.engine, "970000003").recorded_against == "970000001"
    assert sr_store.get(service.engine, "970000004").status == "Pending Regularization"


def test_auto_formal_policy(tmp_path: Path, sqlite_url: str) -> None:
    service = make_service(tmp_path, sqlite_url, clock=FixedClock(START), worker_threads=0, examination="auto")
    office = enrol(service, office="KR")
    receive(service, office, example_package("application", office="KR"))
    spec = example_spec("application", office="KR", office_reference="NO-FEES")
    spec["payments"] = []
    spec.pop("payment", None)
    receive(service, office, build_package(spec, {}, fill_missing=True))
    drain(service)
    assert sr_store.get(service.engine, "970000001").status == "Registered"
    unpaid = sr_store.get(service.engine, "970000002")
    assert unpaid.data["payments"] == [] and unpaid.status == "Pending Regularization" and unpaid.fee_shortfall
    service.close()


def test_each_action_applies_only_to_its_own_status(manual) -> None:  # type: ignore[no-untyped-def]
    """take-up is not a way to regularize, nor regularize a way to take up."""
    service, _ = manual
    office = enrol(service)
    receive(service, office, example_package("application", office="KR"))
    drain(service)
    examiner = Examiner(service)
    with pytest.raises(ExaminationError, match="applies to Pending Regularization"):
        examiner.regularize("970000001", actor="op")
    examiner.take_up("970000001", actor="op")
    examiner.notify_irregularity("970000001", actor="op", reason="x")
    with pytest.raises(ExaminationError, match="applies to Undefined"):
        examiner.take_up("970000001", actor="op")
    assert sr_store.get(service.engine, "970000001").status == "Pending Regularization"


# Decisions only from designated offices (hws.domain.designations) -------------------------


def _registered_application(service, office) -> str:  # type: ignore[no-untyped-def]
    """DM/200001: KR's application designating EM, US and JP, registered."""
    receive(service, office, example_package("application", office="KR"))
    drain(service)
    (application,) = sr_store.find(service.engine, transaction="HagueApplication")
    examiner = Examiner(service)
    examiner.take_up(application.srn, actor="op")
    registered = examiner.register(application.srn, actor="op")
    assert registered.irn == "DM/200001"
    assert sorted(sr_store.designations(service.engine, application.srn)) == ["EM", "JP", "US"]
    return registered.irn


def test_a_decision_from_an_office_not_designated_is_rejected_at_import(manual) -> None:  # type: ignore[no-untyped-def]
    service, _ = manual
    irn = _registered_application(service, enrol(service, office="KR"))
    swiss = enrol(service, office="CH")
    receive(service, swiss, example_package("grant", office="CH", irn=irn))
    drain(service)
    rows = [r for r in _imports(service) if r["office"] == "CH"]
    assert len(rows) == 1 and rows[0]["status"] == "Rejected" and rows[0]["srn"] is None, rows
    (problem,) = _errors(rows[0])
    assert problem["code"] == "decision-office-not-designated"
    assert "DM/200001 does not designate CH (it designates EM, JP, US)" in problem["message"]
    assert problem["entry"] and problem["path"].endswith("/com:InternationalRegistrationNumber")


def test_the_filing_office_may_send_only_a_generic_communication(manual) -> None:  # type: ignore[no-untyped-def]
    service, _ = manual
    korea = enrol(service, office="KR")
    irn = _registered_application(service, korea)
    receive(service, korea, example_package("refusal", office="KR", irn=irn))
    receive(service, korea, example_package("HagueGenericOfficeCommunication", office="KR", irn=irn))
    drain(service)
    rows = {r["transaction"]: r for r in _imports(service) if r["srn"] != "970000001"}
    refusal, generic = rows["HagueRefusalRequest"], rows["HagueGenericOfficeCommunication"]
    (problem,) = _errors(refusal)
    assert refusal["status"] == "Rejected" and problem["code"] == "decision-office-not-designated"
    assert "as the office of filing it may send only HagueGenericOfficeCommunication" in problem["message"]
    assert generic["status"] == "Imported", generic


def test_every_decision_kind_from_a_designated_office_is_imported(manual) -> None:  # type: ignore[no-untyped-def]
    service, _ = manual
    irn = _registered_application(service, enrol(service, office="KR"))
    us = enrol(service, office="US")
    kinds = ["grant", "refusal", "division", "invalidation"]
    for kind in kinds:
        receive(service, us, example_package(kind, office="US", irn=irn))
    drain(service)
    rows = [r for r in _imports(service) if r["office"] == "US"]
    assert [r["status"] for r in rows] == ["Imported"] * len(kinds), rows


def test_examiner_refuses_a_decision_whose_registration_came_later(manual) -> None:  # type: ignore[no-untyped-def]
    """The import could not check (no registration yet): registering it is refused."""
    service, _ = manual
    korea = enrol(service, office="KR")
    swiss = enrol(service, office="CH")
    receive(service, swiss, example_package("refusal", office="CH", irn="DM/200001"))
    drain(service)
    assert sr_store.get(service.engine, "970000001").transaction == "HagueRefusalRequest"
    receive(service, korea, example_package("application", office="KR"))
    drain(service)
    examiner = Examiner(service)
    examiner.take_up("970000002", actor="op")
    assert examiner.register("970000002", actor="op").irn == "DM/200001"
    examiner.take_up("970000001", actor="op")
    with pytest.raises(ExaminationError, match="decision-office-not-designated: DM/200001 does not designate CH"):
        examiner.register("970000001", actor="op")
    assert sr_store.get(service.engine, "970000001").status == "Processing"


def test_auto_examination_cancels_a_decision_from_an_office_not_designated(manual) -> None:  # type: ignore[no-untyped-def]
    """The sandbox's examiner: a decision imported before its registration existed, examined
    after, from an office the registration does not designate, is cancelled with the code."""
    from hws.usecases.auto_examination import enqueue_examination

    service, _ = manual
    korea, swiss = enrol(service, office="KR"), enrol(service, office="CH")
    receive(service, swiss, example_package("refusal", office="CH", irn="DM/200001"))
    drain(service)
    _registered_application(service, korea)  # its SRN is 970000002
    with service.engine.begin() as conn:
        enqueue_examination(conn, service, "970000001")
    drain(service)
    refusal = sr_store.get(service.engine, "970000001")
    assert refusal.status == "Cancelled" and refusal.recorded_against is None
    last = sr_store.history(service.engine, refusal.srn)[-1]
    assert last["actor"] == "auto-examination" and last["reason"].startswith("decision-office-not-designated: ")


def _errors(row: dict) -> list[dict]:  # type: ignore[type-arg]
    return [p for p in row["problems"] if p["severity"] == "error"]


def _imports(service) -> list[dict]:  # type: ignore[type-arg,no-untyped-def]
    import json

    from sqlalchemy import select

    from hws.store.tables import imports

    with service.engine.connect() as conn:
        rows = conn.execute(select(imports).order_by(imports.c.received_at, imports.c.import_id)).all()
    return [{**r._mapping, "problems": json.loads(r.problems) if r.problems else []} for r in rows]


# One deferment rule for the expected publication and the expiry the bulletin prints -------


@pytest.mark.parametrize(
    ("deferment", "expiry"),
    [
        ({"weeks": 40}, date(2024, 10, 16)),  # 280 days from the priority date (2024-01-10)
        ({"months": 18}, date(2025, 7, 10)),
        ({"years": 2}, date(2026, 1, 10)),
        (True, date(2026, 7, 10)),  # no period: the 30-month maximum
    ],
    ids=["40-weeks", "18-months", "2-years", "no-period"],
)
def test_the_expected_publication_and_the_printed_expiry_follow_one_rule(manual, deferment, expiry) -> None:  # type: ignore[no-untyped-def]
    """Examination read weeks (and days) as months, and a deferment without a period
    printed the publication date as its expiry; both now use
    hws.domain.calendar_rules.deferment_expiry from the earliest priority date."""
    from hws.domain.weeks import Week
    from hws.st96.publication import registration_from_service_request

    service, _ = manual
    office = enrol(service, office="KR")
    spec = example_spec("application", office="KR", deferment=deferment, immediate_publication=False)
    spec["filing_date"] = "2024-05-01"  # the example's priority (2024-01-10) is earlier: the base
    receive(service, office, build_package(spec, {}, fill_missing=True))
    drain(service)
    examiner = Examiner(service)
    examiner.take_up("970000001", actor="op")
    sr = examiner.register("970000001", actor="op")  # registered 2026-11-18: every deferment is over
    files = sr_store.files(service.engine, sr.srn)
    with service.files.open(next(f.sha256 for f in files if f.kind == "ST96_XML")) as handle:
        source = handle.read()
    registration = registration_from_service_request(
        sr.data, files, source, irn=sr.irn, srn=sr.srn,
        registration_date=sr.registered_at.date(), expected_publication_date=sr.expected_publication,
    )  # fmt: skip
    assert registration.deferment_expiry_date == expiry
    # the expiry has passed at registration: the next issue, for all four
    assert sr.expected_publication == service.settings.schedule.publication_date(Week.of(date(2026, 11, 18)))


@pytest.mark.parametrize(("deferment", "weeks_after_filing"), [({"weeks": 40}, 40), ({"months": 18}, None)])
def test_a_deferment_still_running_publishes_in_its_expiry_week(manual, deferment, weeks_after_filing) -> None:  # type: ignore[no-untyped-def]
    from hws.domain.calendar_rules import add_months
    from hws.domain.weeks import Week

    service, _ = manual
    office = enrol(service, office="KR")
    spec = example_spec("application", office="KR", deferment=deferment, immediate_publication=False)
    for design in spec["designs"]:
        design.pop("priority", None)
    spec["filing_date"] = "2026-11-02"
    receive(service, office, build_package(spec, {}, fill_missing=True))
    drain(service)
    examiner = Examiner(service)
    examiner.take_up("970000001", actor="op")
    sr = examiner.register("970000001", actor="op")
    filed = date(2026, 11, 2)
    expiry = filed + timedelta(weeks=weeks_after_filing) if weeks_after_filing else add_months(filed, 18)
    assert sr.expected_publication == service.settings.schedule.publication_date(Week.of(expiry))
