"""The README's "Providers" table and docs/providers.md, made from the data file
(``python -m mpusweep.providers``) and checked against it by tests."""

from __future__ import annotations

from .data import Preset, Price
from .loading import presets


def _lifecycle_cell(preset: Preset) -> str:
    cells = [preset.abort_lifecycle_for(r) for r in (preset.region, *preset.regions)]
    if len(set(cells)) <= 1:
        return preset.abort_lifecycle
    return "; ".join(f"{preset.abort_lifecycle_for(r)} ({r})" for r in preset.regions)


def _verified_cell(preset: Preset) -> str:
    parts = []
    for region, override in preset.at.items():
        if override.verified and override.verified != preset.verified:
            parts.append(f"{override.verified} ({region})")
    return "; ".join([*parts, preset.verified]) if parts else preset.verified


def _region_cell(preset: Preset) -> str:
    if preset.region:
        return preset.region
    needs = preset.endpoint is not None and "{region}" in preset.endpoint
    return "none: `--region`" if needs else ""


def _endpoint_cell(preset: Preset, sep: str = "<br>") -> str:
    if preset.name == "aws":
        return "botocore's own (by region)"
    if preset.endpoint is None:
        return "`--endpoint-url` needed"
    cells = [f"`{preset.endpoint}`"]
    cells += [f"`{o.endpoint}` ({r})" for r, o in preset.at.items() if o.endpoint]
    return sep.join(cells)


def _price_cell(price: Price | None) -> str:
    if price is None:
        return ""
    how = {"stored copy": "", "third-party": ", third-party", "not re-read": ", not re-read"}
    return f"{price.per_gb_month:.4f} {price.currency} ({price.read}{how[price.checked]})"


def readme_rows() -> list[list[str]]:
    """The README's "Providers" table, one row per preset."""
    rows = []
    for preset in presets().values():
        p = preset.price
        rows.append(
            [
                f"`{preset.name}`",
                preset.title,
                _endpoint_cell(preset),
                _region_cell(preset),
                _lifecycle_cell(preset),
                _verified_cell(preset),
                _price_cell(p),
            ]
        )
    return rows


README_HEADER = [
    "preset",
    "service",
    "endpoint",
    "default region",
    "abort lifecycle rule",
    "verified",
    "price per GB-month (read)",
]


def readme_table() -> str:
    """The README's "Providers" table as markdown."""
    lines = ["| " + " | ".join(README_HEADER) + " |", "|" + "---|" * len(README_HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in readme_rows()]
    return "\n".join(lines)


def markdown() -> str:
    """docs/providers.md: every preset with its sources, quirks and price."""
    out = [
        "# Provider presets",
        "",
        "Made from `src/mpusweep/providers.toml` by `python -m mpusweep.providers`; a test",
        "checks that this file matches it. Change the data file, then run that command.",
        "",
        "`verified`: *real server* means a test starts that server; *emulated* means a real",
        "server stands in for the service (or a proxy of ours rewrites a real server's answers",
        "the way the service does); *documentation* means only what the service documents.",
        "Prices are converted to mpusweep's unit, a GB-month with GB = 2^30 bytes.",
        "",
    ]
    for preset in presets().values():
        out += [f"## `{preset.name}`: {preset.title}", ""]
        out.append(f"- endpoint: {_endpoint_cell(preset, ', ')} ({preset.sources['endpoint']})")
        if preset.region or preset.regions:
            known = f"; known: {', '.join(preset.regions)}" if preset.regions else ""
            out.append(f"- region: default {preset.region or '(none: --region needed)'}{known}")
        if preset.signing_region:
            out.append(f"- signs for region `{preset.signing_region}`")
        out.append(f"- addressing style: {preset.addressing_style}")
        quirks = ", ".join(f"`{q}`" for q in sorted(preset.quirks)) or "none known"
        out.append(f"- quirks: {quirks}")
        lifecycle = _lifecycle_cell(preset)
        note = f"; {preset.lifecycle_note}" if preset.lifecycle_note else ""
        out.append(f"- abort lifecycle rule: {lifecycle}{note} ({preset.sources['lifecycle']})")
        verified = preset.verified + (f": {preset.verified_note}" if preset.verified_note else "")
        out.append(f"- verified: {verified}")
        for region, o in preset.at.items():
            bits = []
            if o.quirks is not None:
                bits.append("quirks " + (", ".join(f"`{q}`" for q in sorted(o.quirks)) or "none"))
            if o.lifecycle_note:
                bits.append(o.lifecycle_note)
            if o.verified:
                note = f": {o.verified_note}" if o.verified_note else ""
                bits.append(f"verified: {o.verified}{note}")
            if bits:
                out.append(f"- in {region}: " + "; ".join(bits))
        if preset.note:
            out.append(f"- note: {preset.note}")
        if preset.price:
            p = preset.price
            out.append(
                f"- price: {p.per_gb_month:.5f} {p.currency} per GB-month: {p.describe()}"
                + (f"; {p.unit_note}" if p.unit_note else "")
                + (f"; {p.note}" if p.note else "")
            )
        else:
            out.append("- price: none (a server of your own, or not known: `--price-per-gb-month`)")
        out.append("")
    return "\n".join(out)
