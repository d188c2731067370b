"""Provider presets: the data file, resolving a preset into a connection, prices, and the
README table and docs/providers.md made from the data."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mpusweep import providers
from mpusweep.cli.connect import apply_provider
from mpusweep.errors import UsageError
from mpusweep.s3 import Connection, make_session
from mpusweep.settings import ConnectionSettings

ROOT = Path(__file__).resolve().parents[2]
#: What the issue asks presets for, at least.
REQUIRED = {
    "aws",
    "dreamobjects",
    "ceph",
    "minio",
    "wasabi",
    "b2",
    "r2",
    "gcs",
    "spaces",
    "scaleway",
    "ovh",
    "hetzner",
    "linode",
    "idrive",
    "storj",
}


def test_every_required_preset_is_there():
    assert set(providers.names()) >= REQUIRED


@pytest.mark.parametrize("name", providers.names())
def test_every_preset_names_its_sources(name):
    preset = providers.get(name)
    for what in ("endpoint", "lifecycle"):
        assert urlsplit(preset.sources[what]).scheme == "https", (name, what)
    assert preset.abort_lifecycle in providers.ABORT_LIFECYCLE
    assert preset.verified in providers.VERIFIED
    assert preset.quirks <= providers.KNOWN_QUIRKS
    if preset.endpoint:
        assert preset.endpoint.startswith("https://")
    if preset.self_hosted:
        assert preset.endpoint_hint, "say where to find the endpoint"


@pytest.mark.parametrize("name", [n for n in providers.names() if providers.price(n)])
def test_every_price_has_a_source_and_a_read_date(name):
    price = providers.price(name)
    assert price is not None
    assert urlsplit(price.source).scheme == "https"
    assert isinstance(price.read, date)
    assert price.checked in providers.CHECKED
    assert price.currency in ("USD", "EUR")
    assert 0.001 < price.per_gb_month < 0.1, "a price per GB-month, not per TB"
    text = price.describe()
    assert str(price.read) in text and price.source in text
    if price.checked == "not re-read":
        assert "not re-read" in text


def test_prices_are_converted_to_a_gb_of_2_to_the_30_bytes():
    # Storj quotes US$15 per TB (10^12 bytes): per 2^30 bytes that is 15 / 1000 * 1.0737...
    assert providers.price("storj").per_gb_month == pytest.approx(15 * 2**30 / 10**12)
    # AWS quotes per GB of 2^30 bytes already.
    assert providers.price("aws").per_gb_month == pytest.approx(0.023)
    # Wasabi's TB is 1024 GB.
    assert providers.price("wasabi").per_gb_month == pytest.approx(6.99 / 1024)
    assert providers.price("ceph") is None
    assert providers.price("no-such-provider") is None


def test_quirks_follow_the_issue():
    assert {"prefix-exact-key", "lifecycle-drops-abort"} <= providers.get("minio").quirks
    assert "no-upload-id-marker" in providers.get("storj").quirks
    assert "empty-marker-refused" in providers.get("gcs").quirks
    assert "default-abort-rule" in providers.get("r2").quirks
    assert "lifecycle-rewrites-rules" in providers.get("b2").quirks
    for name in ("b2", "r2", "spaces", "ovh", "wasabi", "gcs", "storj"):
        assert "checksum-headers-refused" in providers.get(name).quirks, name
    legacy = providers.resolve("dreamobjects", region="us-east-1")
    assert legacy.quirks == frozenset()  # lifecycle: abort_lifecycle = "no" says it


# -- resolving -------------------------------------------------------------------------------
def test_region_fills_the_endpoint_pattern():
    r = providers.resolve("b2", region="us-west-004")
    assert r.endpoint_url == "https://s3.us-west-004.backblazeb2.com"
    assert r.region == "us-west-004"
    assert r.addressing_style == "path"
    assert r.endpoint_origin == "--provider b2 (region us-west-004)"


def test_default_region_and_per_region_endpoint():
    assert providers.resolve("dreamobjects").endpoint_url == "https://objects-us-east-1.dream.io"
    new = providers.resolve("dreamobjects", region="us-east-005")
    assert new.endpoint_url == "https://s3.us-east-005.dream.io"
    assert new.quirks == frozenset()
    assert providers.resolve("wasabi").endpoint_url == "https://s3.us-east-1.wasabisys.com"


def test_account_id_fills_the_r2_endpoint_and_signing_region_stays_auto():
    r = providers.resolve("r2", account_id="0123456789abcdef0123456789abcdef")
    assert r.endpoint_url == "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"
    assert r.region == "auto"
    eu = providers.resolve("r2", region="eu", account_id="abc")
    assert eu.endpoint_url == "https://abc.eu.r2.cloudflarestorage.com"
    assert eu.region == "auto"


def test_an_explicit_or_configured_endpoint_always_wins():
    r = providers.resolve("wasabi", region="eu-central-1", endpoint_url="http://127.0.0.1:9")
    assert r.endpoint_url == "http://127.0.0.1:9"
    assert r.endpoint_origin == "--endpoint-url"
    assert r.quirks == {"checksum-headers-refused"}
    r = providers.resolve("r2", configured_endpoint="http://127.0.0.1:9")
    assert r.endpoint_url is None  # botocore uses the configured one
    assert r.region == "auto"
    # A self-hosted preset needs no pattern then.
    assert providers.resolve("minio", endpoint_url="http://127.0.0.1:9").region == "us-east-1"


def test_aws_leaves_the_endpoint_and_region_to_botocore():
    r = providers.resolve("aws")
    assert (r.endpoint_url, r.region, r.addressing_style) == (None, None, "auto")
    assert providers.resolve("aws", region="eu-west-1").region == "eu-west-1"


@pytest.mark.parametrize(
    ("name", "kwargs", "words"),
    [
        ("b2", {}, "--provider b2 needs --region"),
        ("spaces", {}, "e.g. nyc3"),
        ("r2", {}, "--provider r2 needs --account-id"),
        ("minio", {}, "--provider minio needs --endpoint-url: the URL of your MinIO server"),
        ("idrive", {}, "e2 console"),
        ("nosuch", {}, "unknown provider 'nosuch': use one of aws, "),
        ("wasabi", {"region": "eu.evil.example/"}, "is not a region name"),
        ("r2", {"account_id": "a.evil.example/x"}, "use letters, digits and '-' only"),
    ],
)
def test_what_is_missing_is_said_in_one_line(name, kwargs, words):
    with pytest.raises(UsageError) as caught:
        providers.resolve(name, **kwargs)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_endpoints_are_recognized_by_host():
    assert providers.match_endpoint("https://s3.eu-central-1.wasabisys.com").provider == "wasabi"
    assert providers.match_endpoint("https://s3.wasabisys.com").region == "us-east-1"
    assert providers.match_endpoint("https://abc.eu.r2.cloudflarestorage.com").region == "eu"
    assert providers.match_endpoint("https://nyc3.digitaloceanspaces.com").provider == "spaces"
    assert providers.match_endpoint("https://s3.us-east-005.dream.io").quirks == frozenset()
    assert providers.match_endpoint("https://bucket.s3.eu-west-1.amazonaws.com").provider == "aws"
    assert providers.match_endpoint("https://x1y2.la.idrivee2-3.com").provider == "idrive"
    assert providers.match_endpoint("https://wasabisys.com.evil.example") is None
    assert providers.match_endpoint(None) is None


# -- the CLI's use of presets (no request is sent) -------------------------------------------
@pytest.fixture
def no_aws_config(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith(("AWS_", "MPUSWEEP_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    return tmp_path / "config"


def setup_for(opts, profile=None, endpoint_url=None, region=None):
    conn = Connection(profile=profile, endpoint_url=endpoint_url, region=region)
    return apply_provider(conn, make_session(conn), ConnectionSettings(**opts))


def test_the_preset_fills_the_connection(no_aws_config):
    got = setup_for({"provider": "wasabi"}, region="eu-central-2")
    assert got.conn.endpoint_url == "https://s3.eu-central-2.wasabisys.com"
    assert got.conn.provider == "wasabi"
    assert got.conn.quirks == {"checksum-headers-refused"}
    assert got.conn.addressing_style == "path"
    assert got.endpoint_origin == "--provider wasabi (region eu-central-2)"
    assert got.provider_origin == "--provider"


def test_a_profile_names_its_provider_region_and_account(no_aws_config):
    no_aws_config.write_text(
        "[profile cf]\nmpusweep_provider = r2\nmpusweep_account_id = 0123abcd\n"
        "[profile b2]\nmpusweep_provider = b2\nregion = eu-central-003\n"
    )
    got = setup_for({}, profile="cf")
    assert got.conn.endpoint_url == "https://0123abcd.r2.cloudflarestorage.com"
    assert got.conn.region == "auto"
    assert got.provider_origin == "profile 'cf' (mpusweep_provider)"
    got = setup_for({}, profile="b2")
    assert got.conn.endpoint_url == "https://s3.eu-central-003.backblazeb2.com"
    # --region and --provider still win over the profile's.
    got = setup_for({"provider": "wasabi"}, profile="b2", region="us-west-1")
    assert got.conn.endpoint_url == "https://s3.us-west-1.wasabisys.com"


def test_a_configured_endpoint_wins_over_the_pattern(no_aws_config, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    got = setup_for({"provider": "b2"})  # no region needed: the endpoint is given
    assert got.conn.endpoint_url is None
    assert got.endpoint_origin == "AWS_ENDPOINT_URL"
    assert got.conn.quirks == {"checksum-headers-refused", "lifecycle-rewrites-rules"}
    no_aws_config.write_text("[default]\nendpoint_url = http://127.0.0.1:8\n")
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    got = setup_for({"provider": "b2"})
    assert got.endpoint_origin == "profile 'default' (endpoint_url)"


def test_without_a_preset_a_known_endpoint_brings_its_quirks(no_aws_config):
    got = setup_for({}, endpoint_url="https://objects-us-east-1.dream.io")
    assert got.conn.provider == "dreamobjects"
    assert got.conn.quirks == frozenset()
    assert got.conn.endpoint_url == "https://objects-us-east-1.dream.io"
    assert got.provider_origin == "recognized from the endpoint"
    plain = setup_for({}, endpoint_url="http://127.0.0.1:9")
    assert (plain.conn.provider, plain.conn.quirks) == (None, frozenset())


# -- documentation made from the data --------------------------------------------------------
def test_readme_providers_table_is_made_from_the_data():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Providers\n", 1)[1].split("\n## ", 1)[0]
    assert providers.readme_table() in section, "run: python -m mpusweep.providers --readme"


def test_docs_providers_md_is_made_from_the_data():
    assert (ROOT / "docs" / "providers.md").read_text() == providers.markdown(), (
        "run: python -m mpusweep.providers > docs/providers.md"
    )


def test_the_readme_profile_example_works(no_aws_config):
    text = (ROOT / "README.md").read_text()
    section = text.split("## Providers\n", 1)[1].split("\n## ", 1)[0]
    no_aws_config.write_text(section.split("```ini\n", 1)[1].split("```", 1)[0])
    dreamhost = setup_for({}, profile="dreamhost")
    assert dreamhost.conn.endpoint_url == "https://s3.us-east-005.dream.io"
    assert dreamhost.conn.region == "us-east-005"
    cloudflare = setup_for({}, profile="cloudflare")
    assert cloudflare.conn.endpoint_url == (
        "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"
    )
