"""Sessions, clients and the call: how one request reaches the service.

The credential chain (and an assumed role), the client configuration for S3-compatible
services, a client per region, throttling, and the ``call`` every request goes through. What
it hooks into botocore's handling of an answer (the listing guard, Content-MD5 on lifecycle
writes, the timestamp parser) and the translation of botocore's exceptions into ``errors``
are in ``hooks``. The quirks handled are listed in docs/compatibility.md.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import botocore.credentials
import botocore.exceptions as bce
import botocore.session
from botocore.config import Config

from .._version import __version__
from ..errors import CredentialsError
from ..redact import add_secret
from . import tuning
from .hooks import (
    TRANSLATED,
    content_md5_instead_of_crc32,
    demanded_region,
    guard_listing,
    parse_timestamp,
    translate,
)
from .quirks import DETECTED, detect_service
from .retry import PATIENCE, ThrottleHandler
from .throttle import RateLimiter

log = logging.getLogger(__name__)

#: How throttled answers are handled: ``aimd`` (default) paces requests and retries throttled
#: ones without giving up (``throttle.py``, ``retry.py``); ``standard`` and ``adaptive`` are
#: botocore's modes.
RetryMode = Literal["aimd", "standard", "adaptive"]
RETRY_MODES: tuple[RetryMode, ...] = ("aimd", "standard", "adaptive")
#: botocore's longest wait between two attempts (botocore/retries/standard.py).
_MAX_BACKOFF = 20.0
#: Values of ``--request-payer``: who pays for requests to a requester-pays bucket.
REQUEST_PAYERS = ("requester",)


@dataclass(frozen=True, slots=True)
class Connection:
    """How to reach the service; ``None`` leaves a setting to botocore's own resolution
    (environment, shared config, profile), exactly as the AWS CLI would."""

    profile: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    addressing_style: str | None = None
    ca_bundle: str | None = None
    verify_ssl: bool = True
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 5
    retry_mode: RetryMode = "aimd"
    #: The provider preset in use ("minio", "r2", ...; see providers.py), when one is named.
    provider: str | None = None
    #: Quirks the service is known to have (names in s3/quirks.py and docs/compatibility.md);
    #: the transport also detects some of them from the service's answers.
    quirks: frozenset[str] = frozenset()
    #: An IAM role to assume (STS AssumeRole) with the credentials found otherwise.
    role_arn: str | None = None
    #: AssumeRole's ExternalId, when the role's trust policy demands one.
    external_id: str | None = None
    #: ``requester``: sent as ``x-amz-request-payer`` on listings, ListParts and aborts, which
    #: a requester-pays bucket refuses (403) without it.
    request_payer: str | None = None

    def __repr__(self) -> str:
        # Never let a secret reach a log or a traceback through repr().
        return (
            f"Connection(profile={self.profile!r}, endpoint_url={self.endpoint_url!r}, "
            f"region={self.region!r}, access_key={'***' if self.access_key else None})"
        )


def make_session(conn: Connection) -> botocore.session.Session:
    """A botocore session with the usual credential chain, or the explicit keys given.

    botocore alone, not boto3: boto3's session adds nothing we use and imports s3transfer,
    a third of the start-up time of a short scan.
    """
    core = botocore.session.Session(profile=conn.profile)
    # botocore parses every timestamp (each part's LastModified) with dateutil, which was the
    # largest single cost of sizing; S3 sends ISO-8601, which the standard library reads.
    core.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=parse_timestamp
    )
    try:
        core.get_scoped_config()  # an unknown profile fails here, not at the first request
    except bce.ProfileNotFound as exc:
        # Without --profile, botocore read the name from AWS_PROFILE: the error carries it.
        name = conn.profile or exc.kwargs.get("profile")
        origin = "--profile" if conn.profile else "AWS_PROFILE"
        raise CredentialsError(
            f"profile {name!r} not found (named by {origin}): check ~/.aws/config and "
            f"~/.aws/credentials{'' if conn.profile else ', or unset AWS_PROFILE'}"
        ) from exc
    if conn.role_arn:
        _assume_role(core, conn, conn.role_arn)
    elif conn.access_key and conn.secret_key:
        core.set_credentials(conn.access_key, conn.secret_key, conn.session_token)
    return core


class _Given(botocore.credentials.CredentialProvider):
    """A credential provider that hands out credentials made elsewhere."""

    METHOD = CANONICAL_NAME = "mpusweep-assume-role"

    def __init__(self, credentials: botocore.credentials.Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> botocore.credentials.Credentials:
        return self._credentials


def _assume_role(core: botocore.session.Session, conn: Connection, role_arn: str) -> None:
    """Make ``core`` sign with ``role_arn``'s temporary credentials, assumed (STS
    AssumeRole) with the keys given or else those its chain finds, and refreshed by botocore
    before they expire. No request is sent until the first one that needs them."""
    resolver = core.get_component("credential_provider")
    if conn.access_key and conn.secret_key:
        source = botocore.credentials.Credentials(
            conn.access_key, conn.secret_key, conn.session_token
        )
    else:
        source = resolver.load_credentials()
    if source is None:
        raise CredentialsError(
            f"no credentials to assume {role_arn} with: name a profile that has keys, or "
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    # STS needs a region, as S3 does: the connection's, the profile's, else us-east-1.
    region = conn.region or core.get_config_variable("region") or "us-east-1"
    extra_args = {"RoleSessionName": "mpusweep"}
    if conn.external_id:
        extra_args["ExternalId"] = conn.external_id
    fetcher = botocore.credentials.AssumeRoleCredentialFetcher(
        client_creator=functools.partial(core.create_client, region_name=region),
        source_credentials=source,
        role_arn=role_arn,
        extra_args=extra_args,
    )

    def fetch() -> dict[str, Any]:
        # A refused AssumeRole names the role, not "the service rejected the credentials":
        # the keys are fine, the role (or its trust policy) is what failed.
        try:
            credentials: dict[str, Any] = fetcher.fetch_credentials()
            return credentials
        except bce.ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = error.get("Code", "Unknown"), error.get("Message", "")
            raise CredentialsError(
                f"cannot assume role {role_arn}: {code}" + (f": {message}" if message else "")
            ) from exc

    assumed = botocore.credentials.DeferredRefreshableCredentials(
        refresh_using=fetch, method="assume-role"
    )
    resolver.providers.insert(0, _Given(assumed))


def has_credentials(session: botocore.session.Session) -> bool:
    """Whether botocore's credential chain finds any credentials."""
    try:
        return session.get_credentials() is not None
    except bce.BotoCoreError as exc:
        raise CredentialsError(f"cannot load credentials: {exc}") from exc


def is_loopback(host: str | None) -> bool:
    """Whether a host is this machine: exactly ``localhost``, or a loopback IP address.

    >>> [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "127.9.9.9")]
    [True, True, True, True]
    >>> [is_loopback(h) for h in ("localhost.evil.example", "127.0.0.1.nip.io", "", None)]
    [False, False, False, False]
    """
    if not host:
        return False
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_plain_http_to_remote(endpoint_url: str | None) -> bool:
    """True when requests (and so signed credentials) would go unencrypted to another host."""
    if not endpoint_url:
        return False
    parts = urlsplit(endpoint_url)
    return parts.scheme == "http" and not is_loopback(parts.hostname)


class Transport:
    """Clients for one service (one per region on AWS) and the ``call`` that uses them.

    Thread-safe: every worker thread shares one transport.

    Args:
        conn: where and how to connect.
        concurrency: requests in flight at once (sizes the connection pools).
        session: a botocore session to reuse (its credentials are already resolved).
        tuning: the CPU-saving steps of ``tuning.py`` to apply (all; benchmarks compare).
        limiter: the pacing to share with another transport (a sizing worker's); a new one
            when None.
    """

    def __init__(
        self,
        conn: Connection,
        *,
        concurrency: int,
        session: botocore.session.Session | None = None,
        tuning_steps: frozenset[str] = tuning.ALL,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.conn = conn
        self.concurrency = concurrency
        self.tuning_steps = tuning_steps
        for secret in (conn.access_key, conn.secret_key, conn.session_token):
            add_secret(secret)  # masked in --debug logs wherever it appears
        self.session = session or make_session(conn)
        tuning.tune_session(self.session, tuning_steps)
        addressing = conn.addressing_style or ("path" if conn.endpoint_url else "auto")
        mode = "standard" if conn.retry_mode == "aimd" else conn.retry_mode
        self._config = Config(
            retries={"mode": mode, "max_attempts": conn.max_attempts},
            # Listing workers plus sizing/abort workers, with room to spare: a pool smaller than
            # the concurrency makes urllib3 drop connections ("Connection pool is full").
            max_pool_connections=2 * concurrency + 4,
            connect_timeout=conn.connect_timeout,
            read_timeout=conn.read_timeout,
            # botocore >= 1.36 adds CRC32 checksums that several S3-compatible services reject.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": addressing},  # type: ignore[arg-type]
            user_agent_extra=f"mpusweep/{__version__}",
            parameter_validation="no_validation" not in tuning_steps,
        )
        #: Paces every request of every client of this transport (and of the readers made from
        #: it, in this process or forked ones) once the service throttles.
        self.limiter = limiter or RateLimiter()
        self._repairing = threading.local()
        self._lock = threading.Lock()
        self._regional: dict[str, Any] = {}
        self._bucket_region: dict[str, str] = {}
        #: Services recognised from their answers ("minio", "localstack"; see quirks.py);
        #: replaced, never changed in place, so threads may read it without the lock.
        self.detected: frozenset[str] = frozenset()
        #: Quirks the service showed by what it answered (a prefixed listing disproved by an
        #: unprefixed page: ``prefix-exact-key``); replaced, never changed in place.
        self.learned: frozenset[str] = frozenset()
        self.client = self._make_client(conn.region)
        self.region: str = self.client.meta.region_name

    def longest_request(self) -> float:
        """An upper bound in seconds on one ``call``, its retries and throttling included:
        every wait on a request is bounded by it, so nothing can hang forever."""
        per_attempt = self.conn.connect_timeout + self.conn.read_timeout + _MAX_BACKOFF
        return PATIENCE + (self.conn.max_attempts + 1) * per_attempt

    @property
    def endpoint_url(self) -> str:
        """The URL requests go to (the region's AWS endpoint when none was given)."""
        return str(self.client.meta.endpoint_url)

    def _make_client(self, region: str | None) -> Any:
        region = region or self.session.get_config_variable("region") or "us-east-1"
        verify: bool | str = self.conn.ca_bundle or self.conn.verify_ssl
        client = self.session.create_client(
            "s3",
            region_name=region,
            endpoint_url=self.conn.endpoint_url,
            verify=verify,
            config=self._config,
        )
        for op in ("ListMultipartUploads", "ListParts"):
            client.meta.events.register_first(f"before-parse.s3.{op}", self._guard_listing)
        client.meta.events.register_first("before-parse.s3", self._detect)
        client.meta.events.register(
            "before-sign.s3.PutBucketLifecycleConfiguration", content_md5_instead_of_crc32
        )
        if self.conn.retry_mode == "aimd":
            ThrottleHandler(self.limiter).install(client)
        tuning.tune_client(
            client,
            self.session,
            self.tuning_steps,
            endpoint_url=self.conn.endpoint_url,
            parse_time=parse_timestamp,
        )
        return client

    def has_quirk(self, name: str) -> bool:
        """Whether the service has this quirk: declared by the preset, detected, or learned."""
        return (
            name in self.conn.quirks
            or name in self.learned
            or any(name in DETECTED[s] for s in self.detected)
        )

    def learn(self, quirk: str) -> None:
        """Record a quirk the service showed, for the rest of the run (every bucket)."""
        with self._lock:
            self.learned = self.learned | {quirk}

    def _detect(self, response_dict: dict[str, Any], **_: Any) -> None:
        """Recognise the services whose quirks change what we send (quirks.DETECTED)."""
        service = detect_service(response_dict.get("headers") or {})
        if service is not None and service not in self.detected:
            log.debug("the service answers as %s", service)
            with self._lock:
                self.detected = self.detected | {service}

    def remember_region(self, bucket: str, region: str, *, demanded: bool = False) -> None:
        """Record a bucket's region for later requests: from ListBuckets' ``BucketRegion``,
        or ``demanded`` by the service itself (a wrong-region answer)."""
        with self._lock:
            if demanded or not self.conn.endpoint_url:
                self._bucket_region[bucket] = region

    def _client_for(self, bucket: str | None) -> Any:
        """The client for a bucket's region. With a custom endpoint every bucket is signed
        for the configured region, unless the service demanded another (a 301 or 400 naming
        the bucket's region: AWS, or a gateway in front of several regions)."""
        if bucket is None:
            return self.client
        with self._lock:
            region = self._bucket_region.get(bucket)
            if not region or region == self.region:
                return self.client
            if region not in self._regional:
                self._regional[region] = self._make_client(region)
            return self._regional[region]

    @contextmanager
    def repairing(self) -> Iterator[None]:
        """Within this block (this thread only), a ListMultipartUploads answer whose only flaw
        is a forbidden character reference is repaired instead of refused."""
        self._repairing.on = True
        try:
            yield
        finally:
            self._repairing.on = False

    def _guard_listing(self, response_dict: dict[str, Any], operation_model: Any, **_: Any) -> None:
        """Refuse (or repair) a listing answer that cannot be right (``hooks.guard_listing``)."""
        self._detect(response_dict)  # before anything is refused: the answer names its service
        repairing = getattr(self._repairing, "on", False)
        guard_listing(response_dict, operation_model.name, repairing=repairing)

    def call(self, op: str, bucket: str | None, **params: Any) -> dict[str, Any]:
        """One API call (``op`` as the botocore client method name), errors translated.

        Raises:
            CredentialsError: the service rejected the credentials, or there are none.
            S3Error: any other failure, with the S3 error code (``ConnectionError`` when the
                endpoint could not be reached).
            UnparsableResponse: a listing answer that is not well-formed XML.
        """
        where = f"bucket {bucket!r}" if bucket else "the service"
        for attempt in (1, 2):
            client = self._client_for(bucket)
            try:
                response: dict[str, Any] = getattr(client, op)(**params)
                return response
            except bce.ClientError as exc:
                # A bucket in another region (AWS): ask again with a client for that region.
                region = demanded_region(exc)
                if attempt == 1 and bucket and region:
                    self.remember_region(bucket, region, demanded=True)
                    continue
                raise translate(exc, op, where) from exc
            except TRANSLATED as exc:
                raise translate(exc, op, where) from exc
        raise AssertionError("unreachable")
