"""The office kit's Python API.

>>> from hws.client import HagueClient
>>> with HagueClient.from_profile() as hws:
...     print(hws.ping("KR").message)
"""

from hws.client.errors import APIError, HWSError, TokenError
from hws.client.hague import AsyncHagueClient, HagueClient, PingResult

__all__ = ["APIError", "AsyncHagueClient", "HWSError", "HagueClient", "PingResult", "TokenError"]
