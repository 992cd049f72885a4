"""The office kit's Python API.

>>> from hws.client import HagueClient
>>> with HagueClient.from_profile() as hws:
...     print(hws.ping("KR").message)

Everything it raises is an :class:`HWSError`; the whole hierarchy is in
:mod:`hws.client.errors` and exported here. Network failures are httpx's own
(:class:`httpx.TransportError`), raised as they are.
"""

from hws.client.errors import (
    APIError,
    DigestMismatch,
    DiscoveryError,
    DownloadError,
    HTTPStatusError,
    HWSError,
    ImportTimeout,
    InvalidArgument,
    NothingPublished,
    NotYetPublished,
    ProblemEntry,
    ProfileError,
    RangeNotSatisfiable,
    StorageError,
    TokenError,
    UnexpectedResponse,
    UnsafeArchive,
    UploadError,
)
from hws.client.hague import AsyncHagueClient, HagueClient, PingResult

__all__ = [
    "APIError",
    "AsyncHagueClient",
    "DigestMismatch",
    "DiscoveryError",
    "DownloadError",
    "HTTPStatusError",
    "HWSError",
    "HagueClient",
    "ImportTimeout",
    "InvalidArgument",
    "NotYetPublished",
    "NothingPublished",
    "PingResult",
    "ProblemEntry",
    "ProfileError",
    "RangeNotSatisfiable",
    "StorageError",
    "TokenError",
    "UnexpectedResponse",
    "UnsafeArchive",
    "UploadError",
]
