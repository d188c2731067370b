"""``S3Writer``: the reader plus the only requests that change anything.

Only ``execute`` (aborts) and ``lifecycle_run`` (rules) take a writer; everything else takes an
``S3Reader``, which has none of these methods.
"""

from __future__ import annotations

from ..errors import S3Error
from ..lifecycle import LifecycleConfig
from ..models import Upload
from .reader import GONE_CODES, S3Reader


class S3Writer(S3Reader):
    """An ``S3Reader`` that may also abort uploads and write lifecycle configurations."""

    def abort_upload(self, upload: Upload) -> bool:
        """Abort exactly this (bucket, key, upload_id). True if aborted, False if already gone."""
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
            if exc.code in GONE_CODES or exc.status == 404:
                return False
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
