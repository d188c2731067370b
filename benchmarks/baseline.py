"""The seed's approach, correctly paged, as the benchmark's baseline: one request after another.

List the buckets; for each bucket list the uploads (paged on both markers); for each upload list
its parts (paged) and sum them; print a line per upload and a total per bucket. ``clean`` then
aborts each listed upload, one at a time, as the seed's script does after "y".

    python -m benchmarks.baseline scan|clean ENDPOINT
"""

from __future__ import annotations

import os
import sys

import boto3
from botocore.config import Config


def main() -> None:
    mode, endpoint = sys.argv[1], sys.argv[2]
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        config=Config(
            s3={"addressing_style": "path"},
            retries={"mode": "standard"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )
    for bucket in s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        print(f"\nBucket: {name}")
        total = 0
        listed = []
        params = {"Bucket": name}
        while True:
            page = s3.list_multipart_uploads(**params)
            for upload in page.get("Uploads", []):
                size = 0
                part_params = {"Bucket": name, "Key": upload["Key"], "UploadId": upload["UploadId"]}
                while True:
                    parts = s3.list_parts(**part_params)
                    size += sum(p["Size"] for p in parts.get("Parts", []))
                    if not parts.get("IsTruncated"):
                        break
                    part_params["PartNumberMarker"] = parts["NextPartNumberMarker"]
                print(upload["Initiated"], upload["Key"], size, f"{size / 1024**3:.2f}GB")
                total += size
                listed.append((upload["Key"], upload["UploadId"]))
            if not page.get("IsTruncated"):
                break
            params["KeyMarker"] = page["NextKeyMarker"]
            params["UploadIdMarker"] = page["NextUploadIdMarker"]
        print(f"Total: {total / 1024**3:.2f}GB")
        if mode == "clean" and listed:
            for key, upload_id in listed:
                s3.abort_multipart_upload(Bucket=name, Key=key, UploadId=upload_id)
            print("MPU data deleted!")


if __name__ == "__main__":
    main()
