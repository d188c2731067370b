"""Read-only probes for ``mpusweep doctor``: what the setup is, and how the service answers.

Every probe is one request whose answer (status, error code, headers, the local time it
arrived) is returned as data, never raised: ``doctor`` turns answers into verdicts. None can
change anything. The one request that is not a GET, ``abort_nonexistent``, aborts an upload
that cannot exist: it takes no key or upload id from its caller, but makes both up itself
from fresh random numbers, so it cannot name an upload anyone ever started.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import botocore.exceptions as bce
import botocore.session
from botocore import UNSIGNED
from botocore.config import Config
from botocore.configprovider import ConfiguredEndpointProvider

from ..errors import MpuSweepError, S3Error
from .hooks import UnparsableResponse
from .transport import Connection, Transport, is_loopback

#: Keys of every probe upload start with this, so a server log shows what they were.
PROBE_PREFIX = "mpusweep-doctor-probe"

#: botocore's credential provider names, in words (never the values).
_METHODS = {
    "env": "environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)",
    "shared-credentials-file": "the shared credentials file {credentials_file}, profile {profile}",
    "config-file": "the config file {config_file}, profile {profile}",
    "assume-role": "a role assumed with profile {profile}'s role_arn",
    "assume-role-with-web-identity": "a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE)",
    "sso": "AWS IAM Identity Center (SSO), profile {profile}",
    "login": "an AWS console login session, profile {profile}",
    "custom-process": "credential_process in profile {profile}",
    "container-role": "the container's credential endpoint (ECS, EKS)",
    "iam-role": "the instance's IAM role (instance metadata)",
    "ec2-credentials-file": "the EC2 credentials file",
    "boto-config": "a boto2 config file",
    "explicit": "keys given to mpusweep directly",
}


@dataclass(frozen=True, slots=True)
class CredentialSource:
    """Where botocore's chain found credentials, in words; never their values."""

    found: bool
    #: Where they come from ("environment variables (...)", "the shared credentials file ...").
    source: str = ""
    #: Why none could be loaded, when loading failed (an SSO session expired, ...).
    problem: str = ""


@dataclass(frozen=True, slots=True)
class Answer:
    """How the service answered one probe (or why nothing came back)."""

    #: The operation, in botocore's words (``list_buckets``).
    op: str
    #: HTTP status; None when no answer came back.
    status: int | None = None
    #: S3 error code; None when the request succeeded or nothing came back.
    code: str | None = None
    message: str = ""
    #: Response headers, names in lower case.
    headers: dict[str, str] = field(default_factory=dict)
    #: botocore's parsed answer, on success.
    data: dict[str, Any] = field(default_factory=dict)
    #: Why nothing came back: "connect", "tls", "timeout", "credentials", "unparsable",
    #: "other"; None when an answer came.
    failure: str | None = None
    #: The local clock when the answer arrived.
    received_at: datetime | None = None
    #: Seconds the request took (shown, never asserted).
    elapsed: float = 0.0

    @property
    def answered(self) -> bool:
        return self.failure is None or self.failure == "unparsable"

    @property
    def ok(self) -> bool:
        return self.answered and self.code is None


def credential_source(session: botocore.session.Session) -> CredentialSource:
    """Where the credentials come from (loading them, which may ask an STS or SSO endpoint)."""
    try:
        credentials = session.get_credentials()
    except (bce.BotoCoreError, MpuSweepError) as exc:
        return CredentialSource(False, problem=str(exc))
    if credentials is None:
        return CredentialSource(False)
    method = str(getattr(credentials, "method", "") or "unknown")
    text = _METHODS.get(method, f"botocore's {method!r} provider")
    profile = session.profile or os.environ.get("AWS_PROFILE") or "default"
    return CredentialSource(
        True,
        text.format(
            profile=repr(profile),
            credentials_file=session.get_config_variable("credentials_file"),
            config_file=session.get_config_variable("config_file"),
        ),
    )


def configured_endpoint(session: botocore.session.Session) -> tuple[str, str] | None:
    """The S3 endpoint botocore would use without being told one, and where it comes from:
    ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, or the profile (its ``services`` section or
    its ``endpoint_url``), in botocore's own order. None when there is none."""
    if session.get_config_variable("ignore_configured_endpoint_urls"):
        return None
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        if os.environ.get(name):
            return os.environ[name], name
    provider = ConfiguredEndpointProvider(
        full_config=session.full_config,
        scoped_config=session.get_scoped_config(),
        client_name="s3",
        environ={},
    )
    url = provider.provide()
    if url:
        return str(url), f"profile {session.profile or 'default'!r} (endpoint_url)"
    return None


def profile_setting(session: botocore.session.Session, key: str) -> str | None:
    """A key of the profile's own section in ~/.aws/config (``mpusweep_provider``, ``region``):
    botocore keeps keys it does not know there too."""
    value = session.get_scoped_config().get(key)
    return str(value).strip() if value else None


def tls_setup(conn: Connection, session: botocore.session.Session, endpoint_url: str) -> str:
    """How requests are protected, in words."""
    parts = urlsplit(endpoint_url)
    if parts.scheme == "http":
        where = "this machine" if is_loopback(parts.hostname) else "another host"
        return f"plain http to {where}: not encrypted"
    if not conn.verify_ssl and not conn.ca_bundle:
        return "https, certificates NOT verified (--no-verify-ssl)"
    if conn.ca_bundle:
        return f"https, certificates verified with {conn.ca_bundle} (--ca-bundle)"
    bundle = session.get_config_variable("ca_bundle")
    if bundle:
        return f"https, certificates verified with {bundle} (AWS_CA_BUNDLE or the profile)"
    return "https, certificates verified with the default CA bundle"


def _failure_of(exc: BaseException) -> str:
    if isinstance(exc, bce.SSLError):
        return "tls"
    if isinstance(exc, bce.ConnectTimeoutError | bce.ReadTimeoutError):
        return "timeout"
    if isinstance(exc, bce.EndpointConnectionError | bce.ConnectionClosedError):
        return "connect"
    if isinstance(exc, bce.NoCredentialsError | bce.CredentialRetrievalError):
        return "credentials"
    return "other"


class S3Probe:
    """The requests ``doctor`` sends. Short timeouts and two attempts: a doctor that hangs on
    an unreachable endpoint would not help.

    Args:
        conn: the connection, as the other commands would use it.
        session: a botocore session (its credentials are not asked for here).
        clock: the local clock (``received_at``; the tests move it).
    """

    def __init__(
        self,
        conn: Connection,
        session: botocore.session.Session,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self.conn = replace(conn, max_attempts=2, connect_timeout=5.0, read_timeout=20.0)
        self.session = session
        self.clock = clock
        self.transport = Transport(self.conn, concurrency=2, session=session)

    @property
    def endpoint_url(self) -> str:
        return self.transport.endpoint_url

    @property
    def addressing_style(self) -> str:
        style = self.transport.client.meta.config.s3.get("addressing_style")
        return str(style or "auto")

    # -- the probes ----------------------------------------------------------------------------
    def anonymous_list_buckets(self) -> Answer:
        """An unsigned ListBuckets: reachability, TLS, Date and Server, without credentials.

        Nearly every service answers it with 403 AccessDenied, which is all that is needed.
        """
        verify: bool | str = self.conn.ca_bundle or self.conn.verify_ssl
        client: Any = self.session.create_client(
            "s3",
            region_name=self.transport.region,
            endpoint_url=self.conn.endpoint_url,
            verify=verify,
            config=Config(
                signature_version=UNSIGNED,
                retries={"mode": "standard", "max_attempts": 1},
                connect_timeout=self.conn.connect_timeout,
                read_timeout=self.conn.read_timeout,
                s3={"addressing_style": self.addressing_style},  # type: ignore[arg-type]
            ),
        )
        start = time.monotonic()
        try:
            data = client.list_buckets()
        except bce.ClientError as exc:
            return self._error_answer("list_buckets", exc, start)
        except (bce.BotoCoreError, UnparsableResponse) as exc:
            return self._failed("list_buckets", exc, start)
        finally:
            client.close()
        return self._answer("list_buckets", data, start)

    def list_buckets(self) -> Answer:
        """ListBuckets, signed (s3:ListAllMyBuckets). Regions it names are remembered."""
        answer = self._call("list_buckets", None)
        for bucket in answer.data.get("Buckets", []):
            if bucket.get("BucketRegion"):
                self.transport.remember_region(bucket["Name"], bucket["BucketRegion"])
        return answer

    def list_uploads(self, bucket: str) -> Answer:
        """One upload at most (s3:ListBucketMultipartUploads)."""
        return self._call("list_multipart_uploads", bucket, Bucket=bucket, MaxUploads=1)

    def list_parts(self, bucket: str, key: str, upload_id: str) -> Answer:
        """One part at most of a listed upload (s3:ListMultipartUploadParts)."""
        return self._call(
            "list_parts", bucket, Bucket=bucket, Key=key, UploadId=upload_id, MaxParts=1
        )

    def list_parts_nonexistent(self, bucket: str) -> Answer:
        """ListParts of an upload that cannot exist: AccessDenied proves the permission is
        missing; NoSuchUpload proves nothing (RGW answers it before checking permissions)."""
        key, upload_id = _impossible_upload()
        return self.list_parts(bucket, key, upload_id)

    def get_lifecycle(self, bucket: str) -> Answer:
        """The bucket's lifecycle configuration (s3:GetLifecycleConfiguration)."""
        return self._call("get_bucket_lifecycle_configuration", bucket, Bucket=bucket)

    def abort_nonexistent(self, bucket: str) -> Answer:
        """AbortMultipartUpload of an upload that cannot exist (s3:AbortMultipartUpload).

        The service checks the permission first: AccessDenied when it is missing,
        NoSuchUpload when it is there. Nothing is aborted: the key and upload id are made up
        here from 244 fresh random bits, under a prefix that says what they are.
        """
        key, upload_id = _impossible_upload()
        return self._call(
            "abort_multipart_upload", bucket, Bucket=bucket, Key=key, UploadId=upload_id
        )

    # -- answers -------------------------------------------------------------------------------
    def _call(self, op: str, bucket: str | None, **params: Any) -> Answer:
        start = time.monotonic()
        try:
            data = self.transport.call(op, bucket, **params)
        except UnparsableResponse as exc:
            # The service did answer (200), with a body that is not the listing asked for.
            return Answer(
                op,
                status=200,
                message=str(exc),
                failure="unparsable",
                received_at=self.clock(),
                elapsed=time.monotonic() - start,
            )
        except MpuSweepError as exc:
            cause = exc.__cause__
            if isinstance(cause, bce.ClientError):
                return self._error_answer(op, cause, start)
            if isinstance(cause, BaseException):
                return self._failed(op, cause, start)
            code = exc.code if isinstance(exc, S3Error) else None
            return Answer(op, code=code, message=str(exc), failure="other", elapsed=0.0)
        return self._answer(op, data, start)

    def _answer(self, op: str, data: dict[str, Any], start: float) -> Answer:
        meta = data.get("ResponseMetadata", {})
        return Answer(
            op,
            status=meta.get("HTTPStatusCode"),
            headers={k.lower(): str(v) for k, v in meta.get("HTTPHeaders", {}).items()},
            data=data,
            received_at=self.clock(),
            elapsed=time.monotonic() - start,
        )

    def _error_answer(self, op: str, exc: bce.ClientError, start: float) -> Answer:
        meta = exc.response.get("ResponseMetadata", {})
        error = exc.response.get("Error", {})
        status = meta.get("HTTPStatusCode")
        return Answer(
            op,
            status=status,
            code=str(error.get("Code") or status or "Unknown"),
            message=str(error.get("Message") or ""),
            headers={k.lower(): str(v) for k, v in meta.get("HTTPHeaders", {}).items()},
            received_at=self.clock(),
            elapsed=time.monotonic() - start,
        )

    def _failed(self, op: str, exc: BaseException, start: float) -> Answer:
        return Answer(
            op,
            message=str(exc),
            failure=_failure_of(exc),
            elapsed=time.monotonic() - start,
        )


def _impossible_upload() -> tuple[str, str]:
    """A (key, upload id) no one can have started: both made of fresh uuid4s (122 random bits
    each), the key under ``PROBE_PREFIX/``."""
    return (
        f"{PROBE_PREFIX}/{uuid.uuid4().hex}/cannot-exist",
        f"{PROBE_PREFIX}-{uuid.uuid4().hex}",
    )
