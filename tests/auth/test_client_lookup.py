"""The token endpoint's client look-up reuses what it built from identical rows only:
any change to the client or its keys, by this process or another, counts at once."""

from __future__ import annotations

from hws.cli.main import app as cli
from hws.keys.certificates import read_certificate
from hws.service import Service
from tests.auth.conftest import TOKEN_ENDPOINT, post_token
from tests.conftest import Office
from tests.support.certificates import self_signed
from tests.support.jose import claims_for, craft, form, new_ec_key


def _token(http, office: Office, key=None, kid=None):  # type: ignore[no-untyped-def]
    header = {"alg": "ES256", "kid": kid or office.kid}
    return post_token(http, form(craft(header, claims_for(office.client_id, TOKEN_ENDPOINT), key or office.key)))


def test_changes_count_on_the_next_request(http, auth_service: Service, office: Office) -> None:  # type: ignore[no-untyped-def]
    registry = auth_service.registry
    assert _token(http, office).status_code == 200  # the snapshot is built and kept
    registry.set_active(office.client_id, False)
    assert _token(http, office).status_code == 401
    registry.set_active(office.client_id, True)
    assert _token(http, office).status_code == 200
    registry.update(office.client_id, networks=["198.51.100.0/24"])  # the test client's 127.0.0.1 no longer allowed
    assert _token(http, office).status_code == 401
    registry.update(office.client_id, networks=["127.0.0.0/8"])
    assert _token(http, office).status_code == 200

    new_key = new_ec_key()
    info = read_certificate(self_signed(new_key))
    registry.add_key(office.client_id, info)
    assert _token(http, office, new_key, info.kid).status_code == 200
    registry.remove_key(office.client_id, office.kid)
    assert _token(http, office).status_code == 401  # the removed key, though its parsed form was kept
    assert _token(http, office, new_key, info.kid).status_code == 200


def test_a_client_disabled_by_another_process_is_refused_at_once(
    http, auth_service: Service, office: Office, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    assert _token(http, office).status_code == 200
    for name, value in {
        "HWS_DATA_DIR": str(auth_service.settings.data_dir),
        "HWS_DATABASE_URL": str(auth_service.settings.database_url),
        "HWS_PUBLIC_URL": auth_service.settings.public_url,
    }.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["admin", "clients", "disable", office.client_id])
    assert result.exit_code == 0, result.output
    assert _token(http, office).status_code == 401
