"""End to end with blobs in S3 (moto in server mode on loopback): the real server takes a
package into the bucket, imports it, publishes a week (sandbox clock) and serves the
bulletin with Range from the bucket; with presigned downloads on, it redirects to the
bucket and the bytes verify against its Repr-Digest."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest

from hws.client import HagueClient
from hws.client.enrolment import generate
from hws.domain.weeks import Schedule, Week
from hws.st96.examples import example_package
from tests.support.s3 import moto_endpoint, new_bucket, s3_client, server_env
from tests.support.servers import start_server, until

pytestmark = pytest.mark.e2e

SANDBOX = {"HWS_SANDBOX": "1", "HWS_SCHEDULER_INTERVAL": "0.3", "HWS_WORKER_POLL_INTERVAL": "0.1"}


def digest_of(response: httpx.Response) -> str:
    value = response.headers["repr-digest"]
    assert value.startswith("sha-256=:") and value.endswith(":")
    return base64.b64decode(value[len("sha-256=:") : -1]).hex()


def test_s3_blobs_import_publish_range_and_presigned_download(tmp_path: Path) -> None:
    s3 = s3_client()
    bucket = new_bucket(s3)
    data_dir = tmp_path / "server"
    server = start_server(data_dir, extra_env=server_env(bucket, **SANDBOX))
    try:
        files = generate("KR", tmp_path / "keys-KR")
        created = json.loads(
            server.hws(
                "admin", "clients", "add", "--cert", str(files.certificate), "--office", "KR", "--ip", "127.0.0.1/32", "--json"
            ).stdout
        )
        office = HagueClient(issuer=server.issuer, client_id=created["client_id"], private_key=files.private_key)

        # A package goes into the bucket, not the data folder, and is imported from there.
        package = tmp_path / "KR-S3-1.zip"
        package.write_bytes(
            example_package("application", office="KR", office_reference="KR-S3-1", deferment=None, immediate_publication=True)
        )
        sha = hashlib.sha256(package.read_bytes()).hexdigest()
        done = office.wait_for_import(office.submit(package).import_id, timeout=60)
        assert done.imported and done.srn and done.package_sha256 == sha
        stored = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="hws/").get("Contents", [])}
        # the package is the one object: its files stay inside it (the bulletin below reads
        # its views from it by ranged GETs)
        assert stored == {f"hws/sha256/{sha[:2]}/{sha[2:4]}/{sha}"}
        assert not any(k.startswith("hws/tmp/") for k in stored)
        assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
        local = data_dir / "blobs" / "sha256"
        assert not local.exists() or not [p for p in local.rglob("*") if p.is_file()]

        # Registered, then the week is published by the scheduler once the clock passes it.
        server.hws("admin", "sr", "take-up", done.srn)
        registered = json.loads(server.hws("admin", "sr", "register", done.srn, "--json").stdout)
        week = Week.of(date.fromisoformat(registered["expected_publication"]))
        now = datetime.fromisoformat(json.loads(server.hws("admin", "clock", "show", "--json").stdout)["now"])
        server.hws("admin", "clock", "advance", f"{int((Schedule().moment(week) - now).total_seconds()) + 60}s")
        listed = until(lambda: [p for p in office.list_bulletins() if p.week == week.id], what="publication")[0]
        bulletin_key = f"hws/sha256/{listed.sha256[:2]}/{listed.sha256[2:4]}/{listed.sha256}"
        assert s3.head_object(Bucket=bucket, Key=bulletin_key)["ContentLength"] == listed.size

        # Served by hws from the bucket: whole, and a Range from the middle.
        url = f"{server.api_url}/publication/bulletin/{week.id}"
        auth = {"Authorization": f"Bearer {office.token()}"}
        whole = httpx.get(url, headers=auth)
        assert whole.status_code == 200 and len(whole.content) == listed.size
        assert hashlib.sha256(whole.content).hexdigest() == digest_of(whole) == listed.sha256
        with zipfile.ZipFile(io.BytesIO(whole.content)) as bulletin, zipfile.ZipFile(package) as sent:
            views = [sent.read(n) for n in sent.namelist() if n.endswith((".jpg", ".png"))]
            published = [bulletin.read(n) for n in bulletin.namelist() if n.endswith((".jpg", ".png"))]
        assert views and all(view in published for view in views)  # read from inside the package, whole
        start, end = listed.size // 3, listed.size // 3 + 999
        part = httpx.get(url, headers={**auth, "Range": f"bytes={start}-{end}", "If-Range": f'"{listed.sha256}"'})
        assert part.status_code == 206 and part.content == whole.content[start : end + 1]
        assert part.headers["content-range"] == f"bytes {start}-{end}/{listed.size}"
    finally:
        server.stop()

    # The same deployment with presigned downloads: a redirect to the bucket.
    server = start_server(data_dir, extra_env=server_env(bucket, HWS_S3_PRESIGN_DOWNLOADS="true", **SANDBOX))
    try:
        office = HagueClient(issuer=server.issuer, client_id=created["client_id"], private_key=files.private_key)
        url = f"{server.api_url}/publication/bulletin/{week.id}"  # a new port
        auth = {"Authorization": f"Bearer {office.token()}"}
        redirect = httpx.get(url, headers=auth)
        assert redirect.status_code == 307, redirect.text
        location = redirect.headers["location"]
        assert location.startswith(f"{moto_endpoint()}/{bucket}/{bulletin_key}?")
        assert redirect.headers["etag"] == f'"{listed.sha256}"' and digest_of(redirect) == listed.sha256
        assert "no-store" in redirect.headers["cache-control"]

        followed = httpx.get(url, headers=auth, follow_redirects=True)  # Authorization is not sent on
        assert followed.status_code == 200 and followed.history[0].status_code == 307
        assert hashlib.sha256(followed.content).hexdigest() == digest_of(followed.history[0])
        assert followed.headers["content-disposition"] == f'attachment; filename="bulletin-{week.id}.zip"'
        ranged = httpx.get(url, headers={**auth, "Range": f"bytes={start}-{end}"}, follow_redirects=True)
        assert ranged.status_code == 206 and ranged.content == whole.content[start : end + 1]

        # Conditional requests and HEAD are still answered by hws itself.
        assert httpx.get(url, headers={**auth, "If-None-Match": f'"{listed.sha256}"'}).status_code == 304
        head = httpx.head(url, headers=auth)
        assert head.status_code == 200 and int(head.headers["content-length"]) == listed.size
        stale = httpx.get(url, headers={**auth, "Range": "bytes=0-9", "If-Range": '"' + "0" * 64 + '"'})
        assert stale.status_code == 200 and stale.content == whole.content  # S3 cannot judge our If-Range
        assert httpx.get(location).content == whole.content  # the URL needs no token of ours
    finally:
        server.stop()
