"""The sending office: named once, consistently, and the office that sends the package."""

from __future__ import annotations

from lxml import etree

from hws.st96.namespaces import com
from hws.st96.rules.context import RuleContext, text_of


def check_office(
    ctx: RuleContext, header: etree._Element | None, transaction: etree._Element | None, office: str | None
) -> str | None:
    header_code_el = header.find(com("IPOfficeCode")) if header is not None else None
    app_code_el = transaction.find(com("IPOfficeCode")) if transaction is not None else None
    header_code, app_code = text_of(header_code_el), text_of(app_code_el)
    sender = header_code or app_code
    if header_code and app_code and header_code != app_code:
        ctx.add(
            "office-code-inconsistent",
            f"the header says office {header_code!r} but the application says {app_code!r}; they must agree",
            app_code_el,
        )
    if sender is None:
        ctx.add(
            "office-code-missing",
            "name the sending office: add com:IPOfficeCode (two-letter ST.3 code) to the header",
            header if header is not None else ctx.root,
        )
    elif office is not None and sender.upper() != office.upper():
        ctx.add(
            "office-code-mismatch",
            f"the XML says it comes from office {sender!r} but it is sent by office {office.upper()!r}",
            header_code_el if header_code else app_code_el,
        )
    return sender
