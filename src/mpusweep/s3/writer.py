"""``S3Writer``: the reader plus the only requests that change anything.

Only ``execute`` (aborts) and ``lifecycle_run`` (rules) take a writer; everything else takes an
``S3Reader``, which has none of these methods.
"""

from __future__ import annotations

from ..errors import S3Error
from ..lifecycle import LifecycleConfig
from ..models import Upload
from .reader import S3Reader


class S3Writer(S3Reader):
    """An ``S3Reader`` that may also abort uploads and write lifecycle configurations."""

    def writer(self, *, concurrency: int) -> S3Writer:
        """A writer like this one with a client of its own (for a forked worker process that
        sends aborts), paced by the same limiter as every process of the run."""
        return self._sibling(S3Writer, concurrency)

    def abort_upload(self, upload: Upload) -> bool:
        """Abort exactly this (bucket, key, upload_id). True if aborted, False if the service
        says it no longer exists (S3's ``NoSuchUpload``).

        Raises:
            S3Error: any other refusal, a 404 without ``NoSuchUpload`` included: an HTML page
                from a proxy or a wrong path proves nothing about the upload.
        """
        try:
            self.transport.call(
                "abort_multipart_upload",
                upload.bucket,
                Bucket=upload.bucket,
                Key=upload.key,
                UploadId=upload.upload_id,
                **self._payer(),
            )
        except S3Error as exc:
            if exc.code == "NoSuchUpload":
                return False
            if exc.status == 404:
                raise S3Error(
                    f"{exc}: a 404 without S3's NoSuchUpload, which does not prove the upload "
                    "is gone (a proxy or a wrong path in front of the service?)",
                    code=exc.code,
                    status=exc.status,
                ) from exc
            raise
        return True

    def put_lifecycle(self, bucket: str, config: LifecycleConfig) -> None:
        """Write the whole configuration: it REPLACES what is there, so merge first.

        The configuration-level settings read with it (such as AWS's
        ``TransitionDefaultMinimumObjectSize``) are sent back too: AWS resets them to their
        defaults when a PUT omits them.
        """
        self.transport.call(
            "put_bucket_lifecycle_configuration",
            bucket,
            Bucket=bucket,
            LifecycleConfiguration={"Rules": config.rules},
            **config.settings,
        )

    def delete_lifecycle(self, bucket: str) -> None:
        """Remove the bucket's whole lifecycle configuration."""
        self.transport.call("delete_bucket_lifecycle", bucket, Bucket=bucket)
