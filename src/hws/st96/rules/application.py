"""An international application: counts, designations, publication choices, deferment, applicants, priorities, payments."""

from __future__ import annotations

from datetime import date

from lxml import etree

from hws.st96.content import Deferment, PackageContent, Payment, Priority
from hws.st96.namespaces import com, dgn
from hws.st96.rules.context import RuleContext, attribute_of, bool_of, date_of, name_text, text_of
from hws.st96.rules.designs import check_designs
from hws.st96.rules.documents import check_documents
from hws.st96.transactions import TransactionKind


def check_application(
    ctx: RuleContext, app: etree._Element, sender: str | None, refs: dict[str, list[etree._Element]]
) -> PackageContent | None:
    designs = check_designs(ctx, app)
    stated = text_of(app.find(dgn("DesignTotalQuantity")))
    if stated is not None and stated.isdigit() and int(stated) != len(designs):
        ctx.add(
            "count-mismatch",
            f"dgn:DesignTotalQuantity says {stated} but {len(designs)} design(s) are listed",
            app.find(dgn("DesignTotalQuantity")),
        )
    views_total = sum(len(ds.views) for ds in designs)
    stated_views = text_of(app.find(dgn("ViewTotalQuantity")))
    if stated_views is not None and stated_views.isdigit() and int(stated_views) != views_total:
        ctx.add(
            "count-mismatch",
            f"dgn:ViewTotalQuantity says {stated_views} but {views_total} view(s) are listed",
            app.find(dgn("ViewTotalQuantity")),
        )
    designated: list[str] = []
    for code_el in app.iterfind(f"{dgn('DesignatedCountryBag')}/{dgn('DesignatedCountry')}/{com('DesignatedCountryCode')}"):
        code = text_of(code_el)
        if code is None:
            continue
        if code in designated:
            ctx.add("designation-duplicate", f"{code!r} is designated twice", code_el)
        else:
            designated.append(code)
    immediate = bool_of(text_of(app.find(dgn("ImmediatePublicationIndicator"))))
    deferred = bool_of(text_of(app.find(dgn("PublicationDefermentIndicator"))))
    if immediate and deferred:
        ctx.add(
            "publication-conflict",
            "both immediate publication and deferment are requested; choose one",
            app.find(dgn("PublicationDefermentIndicator")),
        )
    period_el = app.find(dgn("DefermentPeriod"))
    period = text_of(period_el)
    deferment = None
    if deferred is not None:
        deferment = Deferment(
            deferred,
            int(period) if period and period.isdigit() else None,
            period_el.get(com("periodCategory")) if period_el is not None else None,
        )
    documents = check_documents(ctx, app, TransactionKind.APPLICATION, None)
    applicants = tuple(n for n in (name_text(a) for a in app.iterfind(f"{dgn('ApplicantBag')}/{dgn('Applicant')}")) if n)
    priorities = tuple(
        Priority(
            text_of(p.find(com("PriorityCountryCode"))),
            text_of(p.find(f"{com('ApplicationNumber')}/{com('ApplicationNumberText')}"))
            or text_of(p.find(f"{com('ApplicationNumber')}/{com('ST13ApplicationNumber')}")),
            date_of(text_of(p.find(com("PriorityApplicationFilingDate")))),
        )
        for p in app.iter(dgn("Priority"))
    )
    payments = tuple(
        Payment(
            mode=text_of(p.find(com("PaymentModeCategory")))
            or text_of(p.find(f"{com('PaymentMethod')}/{com('OtherPaymentMethod')}")),
            amount=text_of(p.find(com("FeePayableTotalAmount"))),
            currency=attribute_of(p.find(com("FeePayableTotalAmount")), com("currencyCode")),
            reference=text_of(p.find(com("PaymentReference"))),
            identifier=text_of(p.find(com("PaymentIdentifier"))),
            account=text_of(p.find(f"{com('PaymentMethod')}/{com('CurrentAccount')}/{com('AccountNumber')}")),
        )
        for p in app.iterfind(f"{com('PaymentBag')}/{com('Payment')}")
    )
    filing = date_of(text_of(app.find(com("ApplicationDateTime")))) or date_of(text_of(app.find(com("ReceivingOfficeDate"))))
    if sender is None or ctx.version is None:
        return None
    return PackageContent(
        transaction=TransactionKind.APPLICATION,
        st96_version=ctx.version,
        office=sender.upper(),
        office_reference=text_of(app.find(com("OfficeReferenceIdentifier"))),
        xml_entry=ctx.entry,
        request_date=request_date(ctx),
        designs=designs,
        designated_offices=tuple(designated),
        applicants=applicants,
        filing_date=filing,
        priorities=priorities,
        deferment=deferment,
        immediate_publication=immediate,
        payments=payments,
        documents=documents,
        files=ctx.files,
    )


def request_date(ctx: RuleContext) -> date | None:
    header = ctx.root.find(dgn("HagueOfficeTransactionHeader"))
    if header is None:
        return None
    return date_of(text_of(header.find(com("RequestDate")))) or date_of(text_of(header.find(com("RequestDateTime"))))
