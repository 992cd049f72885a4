"""moto in server mode on loopback: a real S3 endpoint over HTTP for the S3 blob store.

One server per test process (started on first use, on a free port); its state is global
to the process, so every test takes a bucket of its own (:func:`new_bucket`)."""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import threading
from typing import Any

import boto3
from botocore.config import Config

#: Dummy credentials: moto accepts any; boto3 must never look further (no instance metadata).
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}

_lock = threading.Lock()
_endpoint: str | None = None


def moto_endpoint() -> str:
    """``http://127.0.0.1:<port>`` of this process's moto server."""
    global _endpoint
    with _lock:
        if _endpoint is None:
            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise

            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            host, port = server.get_host_and_port()
            atexit.register(server.stop)
            _endpoint = f"http://{host}:{port}"
        return _endpoint


def s3_client(endpoint: str | None = None) -> Any:
    for name, value in CREDENTIALS.items():
        os.environ.setdefault(name, value)
    return boto3.client(
        "s3",
        endpoint_url=endpoint or moto_endpoint(),
        region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(s3={"addressing_style": "path"}),
    )


def new_bucket(client: Any | None = None) -> str:
    client = client or s3_client()
    name = f"hws-test-{secrets.token_hex(6)}"
    client.create_bucket(Bucket=name)
    return name


def server_env(bucket: str, **extra: str) -> dict[str, str]:
    """``extra_env`` for :func:`tests.support.servers.start_server` to use ``bucket``."""
    return {
        **CREDENTIALS,
        "HWS_BLOB_STORE": "s3",
        "HWS_S3_BUCKET": bucket,
        "HWS_S3_ENDPOINT_URL": moto_endpoint(),
        "HWS_S3_REGION": CREDENTIALS["AWS_DEFAULT_REGION"],
        **extra,
    }
