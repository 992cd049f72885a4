"""The authorization server: discovery, JWKS, token endpoint, access-token checks."""
