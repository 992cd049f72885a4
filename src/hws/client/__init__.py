"""The office kit's Python API.

>>> from hws.client import HagueClient
>>> with HagueClient.from_profile() as hws:
...     print(hws.ping("KR").message)

Everything it raises is an :class:`HWSError` (:mod:`hws.client.errors`).
"""

from hws.client.errors import (
    APIError,
    DigestMismatch,
    HWSError,
    ImportTimeout,
    NothingPublished,
    NotYetPublished,
    ProfileError,
    RangeNotSatisfiable,
    TokenError,
    UnexpectedResponse,
    UnsafeArchive,
)
from hws.client.hague import AsyncHagueClient, HagueClient, PingResult

__all__ = [
    "APIError",
    "AsyncHagueClient",
    "DigestMismatch",
    "HWSError",
    "HagueClient",
    "ImportTimeout",
    "NotYetPublished",
    "NothingPublished",
    "PingResult",
    "ProfileError",
    "RangeNotSatisfiable",
    "TokenError",
    "UnexpectedResponse",
    "UnsafeArchive",
]
