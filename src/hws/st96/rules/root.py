"""The root element and its declared ST.96 version."""

from __future__ import annotations

from lxml import etree

from hws.st96.namespaces import DGN, com, dgn
from hws.st96.rules.context import RuleContext
from hws.st96.transactions import ST96_VERSIONS

ROOT_TAG = dgn("HagueOfficeToIBTransaction")


def check_root(ctx: RuleContext) -> bool:
    root = ctx.root
    if root.tag != ROOT_TAG:
        qname = etree.QName(root)
        if qname.localname == "HagueOfficeToIBTransaction":
            msg = f"the root element is in namespace {qname.namespace!r}; it must be in {DGN!r}"
        else:
            msg = f"the root element is {qname.localname!r}; it must be dgn:HagueOfficeToIBTransaction ({DGN})"
        ctx.add("xml-root-wrong", msg, root)
        return False
    version = root.get(com("st96Version"))
    if version is None:
        ctx.add("st96-version-missing", "add com:st96Version (one of V7_0, V6_0, V4_0, V3_2) to the root", root)
    elif version not in ST96_VERSIONS:
        ctx.add(
            "st96-version-unknown",
            f"com:st96Version {version!r} is not accepted; use one of {', '.join(ST96_VERSIONS)}",
            root,
        )
    else:
        ctx.version = version
    return True
