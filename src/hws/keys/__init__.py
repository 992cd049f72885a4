"""Keys, certificates and JOSE: what auth (the service), store and client all point down to.

- :mod:`hws.keys.public_keys` — JWKs, RFC 7638 thumbprints, the one algorithm a key is pinned to;
- :mod:`hws.keys.jose` — compact JWS signing and verification (ES256, PS256) on joserfc;
- :mod:`hws.keys.certificates` — the x509 certificates offices send at enrolment.
"""
