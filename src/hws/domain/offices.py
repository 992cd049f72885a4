"""Offices: two-letter WIPO ST.3 codes.

ST.3 gives every State its ISO 3166-1 alpha-2 code and adds codes for intergovernmental
organisations and offices. A code outside that list (a typo, or ST.3's ``XX`` for an
unknown State) names no office and is refused.
"""

from __future__ import annotations

import re

_SHAPE = re.compile(r"^[A-Z]{2}$")

#: The International Bureau of WIPO, the operator's own "office" code.
INTERNATIONAL_BUREAU = "IB"

#: ISO 3166-1 alpha-2: the States and territories (ST.3 takes them as they are)
_ISO_3166 = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
    BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
    DE DJ DK DM DO DZ
    EC EE EG EH ER ES ET
    FI FJ FK FM FO FR
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
    HK HM HN HR HT HU
    ID IE IL IM IN IO IQ IR IS IT
    JE JM JO JP
    KE KG KH KI KM KN KP KR KW KY KZ
    LA LB LC LI LK LR LS LT LU LV LY
    MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
    NA NC NE NF NG NI NL NO NP NR NU NZ
    OM
    PA PE PF PG PH PK PL PM PN PR PS PT PW PY
    QA
    RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
    TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
    UA UG UM US UY UZ
    VA VC VE VG VI VN VU
    WF WS
    YE YT
    ZA ZM ZW
"""
STATES = frozenset(_ISO_3166.split())

#: ST.3's codes of organisations and offices that are not States
ORGANISATIONS = {
    "AP": "African Regional Intellectual Property Organization (ARIPO)",
    "BX": "Benelux Office for Intellectual Property (BOIP)",
    "EA": "Eurasian Patent Organization (EAPO)",
    "EM": "European Union Intellectual Property Office (EUIPO)",
    "EP": "European Patent Office (EPO)",
    "GC": "Patent Office of the Cooperation Council for the Arab States of the Gulf (GCC)",
    "IB": "International Bureau of WIPO",
    "OA": "African Intellectual Property Organization (OAPI)",
    "QZ": "Community Plant Variety Office (CPVO)",
    "WO": "World Intellectual Property Organization (WIPO)",
    "XN": "Nordic Patent Institute (NPI)",
    "XU": "International Union for the Protection of New Varieties of Plants (UPOV)",
    "XV": "Visegrad Patent Institute (VPI)",
}

#: every code ST.3 gives an office
ST3_CODES = STATES | ORGANISATIONS.keys()


def normalize_office_code(code: str) -> str:
    """Return the upper-case ST.3 code or raise ``ValueError`` naming the problem."""
    value = code.strip().upper()
    if not _SHAPE.match(value):
        raise ValueError(f"office code must be two letters (WIPO ST.3), got {code!r}")
    if value not in ST3_CODES:
        raise ValueError(f"{value} is not a WIPO ST.3 office code (a State's ISO 3166 code, or EM, WO, IB, OA, BX, AP…)")
    return value
