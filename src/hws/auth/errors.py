"""OAuth 2.0 errors (RFC 6749 §5.2) and bearer-token errors (RFC 6750 §3.1)."""

from __future__ import annotations


class OAuthError(Exception):
    """A token-endpoint error answered as RFC 6749 JSON.

    ``description`` goes to the client and never says which security check failed
    (rule 14); ``reason`` is the precise cause, for the operator's logs only.
    """

    status = 400

    def __init__(self, error: str, description: str, *, reason: str | None = None, status: int | None = None) -> None:
        super().__init__(reason or description)
        self.error = error
        self.description = description
        self.reason = reason or description
        if status is not None:
            self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def invalid_request(description: str, reason: str | None = None) -> OAuthError:
    return OAuthError("invalid_request", description, reason=reason)


def invalid_client(reason: str, description: str = "client authentication failed") -> OAuthError:
    return OAuthError("invalid_client", description, reason=reason, status=401)


def invalid_scope(description: str) -> OAuthError:
    return OAuthError("invalid_scope", description)


def unsupported_grant_type(description: str) -> OAuthError:
    return OAuthError("unsupported_grant_type", description)


class InvalidToken(Exception):
    """A bearer token the API does not accept (401, ``error="invalid_token"``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
