"""XML namespaces used by hws documents."""

COM = "http://www.wipo.int/standards/XMLSchema/ST96/Common"
DGN = "http://www.wipo.int/standards/XMLSchema/ST96/Design"
XSI = "http://www.w3.org/2001/XMLSchema-instance"

#: Our own small namespace for the response documents ST.96 does not define
#: (ping, import status, service-request status).
HWS = "urn:hws:xml:api:v1"

#: RFC 9457 (formerly RFC 7807) problem details, XML format (Appendix B).
PROBLEM = "urn:ietf:rfc:7807"

NSMAP = {"com": COM, "dgn": DGN, "hws": HWS}


def com(name: str) -> str:
    """``Name`` in the ST.96 Common namespace, as lxml writes it: ``{…/Common}Name``."""
    return f"{{{COM}}}{name}"


def dgn(name: str) -> str:
    """``Name`` in the ST.96 Design namespace: ``{…/Design}Name``."""
    return f"{{{DGN}}}{name}"


def clark(tag: str) -> str:
    """A prefixed name, ``com:Name`` or ``dgn:Name`` (or ``hws:``), in Clark notation."""
    prefix, _, local = tag.partition(":")
    return f"{{{NSMAP[prefix]}}}{local}"
