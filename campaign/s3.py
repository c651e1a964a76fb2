"""The archive in an S3-compatible bucket (MinIO, Aliyun OSS, Tencent COS, AWS S3), through boto3.

The client has explicit limits (connect and read timeouts, a bounded number of attempts), sends
no checksum headers a store does not ask for (many S3-compatible stores refuse the ones boto3
adds by default since 1.36), and is made once per process, at first use (gunicorn forks first).
Every botocore failure becomes Missing or StoreError naming the [storage] key to check.
"""
from __future__ import annotations

import io
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from campaign.objects import Missing, StoreError

CHUNK = 1 << 16
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_REFUSED = {"403", "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch",
            "InvalidSecurity", "AuthorizationHeaderMalformed"}


class S3Store:
    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None, region: str = "us-east-1",
                 access_key: str = "", secret_key: str = "", addressing_style: str = "auto",
                 connect_timeout: int = 5, read_timeout: int = 30, max_attempts: int = 3, pool: int = 10):
        self.bucket, self.prefix = bucket, (prefix.strip("/") + "/") if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.where = f"s3://{bucket}/{self.prefix} at {endpoint_url or 'the AWS endpoint of ' + region}"
        self._settings = dict(region=region, access_key=access_key, secret_key=secret_key,
                              addressing_style=addressing_style, connect_timeout=connect_timeout,
                              read_timeout=read_timeout, max_attempts=max_attempts, pool=pool)
        self._client, self._lock, self._bucket_checked = None, threading.Lock(), False

    @property
    def client(self):
        with self._lock:
            if self._client is None:
                self._client = _client(self.endpoint_url, **self._settings)
            return self._client

    def put(self, key: str, finished: Path) -> None:
        try:
            if not self.exists(key):  # the same bytes are kept already: keys are content hashes
                with open(finished, "rb") as body, self._translated(key):
                    # One PUT: the object appears whole when it completes, or not at all.
                    self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=body,
                                           ContentLength=Path(finished).stat().st_size)
        finally:
            Path(finished).unlink(missing_ok=True)

    def get(self, key: str) -> bytes:
        with self.open(key) as stream:
            return stream.read()

    def open(self, key: str) -> BinaryIO:
        with self._translated(key):
            body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"]
        return io.BufferedReader(_Stream(body, self, key), CHUNK)

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
            return True
        except Missing:
            return False

    def size(self, key: str) -> int:
        with self._translated(key):
            return int(self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)["ContentLength"])

    def delete(self, key: str) -> None:
        with self._translated(key):
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def keys(self) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        with self._translated(None):
            for page in pages:
                for item in page.get("Contents", []):
                    yield item["Key"][len(self.prefix):]

    def check_bucket(self) -> None:
        """StoreError naming the problem unless the bucket exists and these keys may use it."""
        with self._translated(None):
            self.client.head_bucket(Bucket=self.bucket)
        self._bucket_checked = True

    @contextmanager
    def _translated(self, key: str | None):
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code == "NoSuchBucket" or (code in _NOT_FOUND and key is None):
                raise StoreError(f"storage.bucket: there is no bucket {self.bucket!r} at "
                                 f"{self.endpoint_url or 'AWS'} (create it first, or correct the name)") from None
            if code in _NOT_FOUND:
                if not self._bucket_checked:
                    self.check_bucket()  # a HEAD's 404 does not say whether the key or the bucket is missing
                raise Missing(f"{key}: not in {self.where}") from None
            if code in _REFUSED:
                raise StoreError(f"storage.access_key / storage.secret_key: {self.where} refused them ({code}); "
                                 f"check the keys and that they may read and write the bucket") from None
            raise StoreError(f"{self.where}: {code or 'error'}: {exc}") from None
        except EndpointConnectionError as exc:
            raise StoreError(f"storage.endpoint_url: cannot reach {self.endpoint_url or 'AWS'} ({exc})") from None
        except BotoCoreError as exc:  # timeouts after the last attempt, a connection closed mid-answer
            raise StoreError(f"{self.where}: {type(exc).__name__}: {exc}") from None


class _Stream(io.RawIOBase):
    """An object's body, read in chunks; a failure mid-way is a StoreError like any other."""

    def __init__(self, body, store: S3Store, key: str):
        self.body, self.store, self.key = body, store, key

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        with self.store._translated(self.key):
            data = self.body.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.body.close()
        super().close()


def _client(endpoint_url, region, access_key, secret_key, addressing_style, connect_timeout, read_timeout,
            max_attempts, pool):
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=connect_timeout, read_timeout=read_timeout,
                    retries={"max_attempts": max_attempts, "mode": "standard"}, max_pool_connections=pool,
                    s3={"addressing_style": addressing_style}, signature_version="s3v4",
                    request_checksum_calculation="when_required", response_checksum_validation="when_required")
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region,
                                          aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                                          config=config)
