"""CLI commands: detect (occupied channels, licensed or not) and tdoa (time differences)."""

from __future__ import annotations

from typing import Annotated

import typer

from unseen.cli.app import app, simulate_app  # noqa: F401
from unseen.cli.options import CenterFreqHz, SampleRateHz


def _open(path: str, rate: float | None, freq: float | None, datatype: str | None):
    import warnings

    from unseen.sources import open_recording

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = open_recording(path, sample_rate_hz=rate, center_freq_hz=freq, datatype=datatype)
    import sys

    for w in caught:
        print(f"unseen: warning: {w.message}", file=sys.stderr)
    return rec


@app.command("detect")
def detect_cmd(
    recording: Annotated[str, typer.Argument(help="SigMF, WAV or raw IQ recording.")],
    registry: Annotated[
        str | None, typer.Option(help="Licence registry CSV name,freq_hz,bandwidth_hz[,...].")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    nfft: Annotated[int, typer.Option(help="FFT bins (frequency resolution fs/nfft).")] = 1024,
    pfa: Annotated[float, typer.Option(help="CFAR false-alarm probability per bin.")] = 1e-6,
    sample_rate_hz: SampleRateHz = None,
    center_freq_hz: CenterFreqHz = None,
    datatype: Annotated[str | None, typer.Option(help="Raw datatype, e.g. cu8.")] = None,
) -> int:
    """Find occupied channels; with --registry flag those no assignment covers."""
    import json

    from unseen.detect import detect
    from unseen.detect.registry import load_registry, match
    from unseen.errors import InputError

    if nfft < 16 or nfft & (nfft - 1):
        raise InputError(f"--nfft {nfft}; expected a power of two ≥ 16")
    if not 0 < pfa < 0.5:
        raise InputError(f"--pfa {pfa}; expected 0 < pfa < 0.5")
    rec = _open(recording, sample_rate_hz, center_freq_hz, datatype)
    dets = detect(rec, nfft=nfft, pfa=pfa)
    if registry:
        dets = match(dets, load_registry(registry))
    for d in dets:
        row = {
            "freq_hz": round(d.freq_hz, 3),
            "bandwidth_hz": round(d.bandwidth_hz, 3),
            "snr_db": round(d.snr_db, 2),
            "power_dbfs": round(d.power_dbfs, 2),
            "start_s": round(d.start_s, 6),
            "stop_s": round(d.stop_s, 6),
            "modulation": d.modulation,
            "licensed": d.licensed,
            "assignment": d.assignment,
            "repetition_s": None if d.repetition_s is None else round(d.repetition_s, 9),
            "start_utc": _iso(d.start_utc_ns),
            "stop_utc": _iso(d.stop_utc_ns),
        }
        if json_out:
            print(json.dumps(row))
        else:
            lic = {None: "", True: f"licensed ({d.assignment})", False: "UNLICENSED"}[d.licensed]
            print(
                f"{d.freq_hz / 1e6:14.6f} MHz  bw {d.bandwidth_hz:10.1f} Hz  "
                f"snr {d.snr_db:6.1f} dB  {d.power_dbfs:7.1f} dBFS  "
                f"{d.start_s:9.3f}–{d.stop_s:9.3f} s  {d.modulation:8s} {lic}"
                + (f"  every {d.repetition_s * 1e3:.3f} ms" if d.repetition_s else "")
            )
    return 0


def _iso(utc_ns: int | None) -> str | None:
    """ISO 8601 UTC with microseconds and 'Z', or None."""
    if utc_ns is None:
        return None
    import datetime as dt

    t = dt.datetime.fromtimestamp(utc_ns // 1000 / 1e6, dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _stations(path: str) -> dict:
    """`--stations` CSV: station,lat,lon[,alt_m] → Site by station name."""
    from unseen import validate
    from unseen.errors import ConfigError
    from unseen.types import Site

    text = validate.read_text(path, "stations CSV", ConfigError, max_bytes=16 * 1024**2)
    _, rows = validate.csv_rows(text, path, required=("station", "lat", "lon"), error=ConfigError)
    out = {}
    for i, r in rows:
        name = r["station"]
        if not name:
            raise ConfigError(f"{path}:{i}: station: expected a name, got an empty cell")
        lat = validate.number(r["lat"], f"{path}:{i}: lat", lo=-90, hi=90, error=ConfigError)
        lon = validate.number(r["lon"], f"{path}:{i}: lon", lo=-180, hi=360, error=ConfigError)
        alt = r.get("alt_m") or "0"
        alt_m = validate.number(alt, f"{path}:{i}: alt_m", lo=-500, hi=1e5, error=ConfigError)
        out[name] = Site(name, lat, lon, alt_m)
    return out


@app.command("tdoa")
def tdoa_cmd(
    recordings: Annotated[list[str], typer.Argument(help="Two or more time-stamped recordings.")],
    stations: Annotated[
        str | None, typer.Option(help="CSV station,lat,lon[,alt_m] for files without positions.")
    ] = None,
    freq_hz: Annotated[float | None, typer.Option(help="Channel centre to measure on.")] = None,
    bandwidth_hz: Annotated[float | None, typer.Option(help="Channel bandwidth.")] = None,
    group: Annotated[str, typer.Option(help="Group name written on each row.")] = "",
    method: Annotated[
        str,
        typer.Option(
            help="carrier (cc after removing a 50 ms moving-average carrier: AM edges, phase "
            "chips, or plain cc for noise-like signals; impulses beyond what the modulation "
            "reaches, e.g. lightning sferics, blanked) | phat | cc | envelope | dcf77 (each "
            "receiver's arrival of DCF77's known phase-modulation sequence; TDOA = ΔTOA)."
        ),
    ] = "carrier",
    sigma_sys_s: Annotated[
        float, typer.Option(help="Systematic timing σ added in quadrature (clocks, propagation).")
    ] = 0.0,
    max_duration_s: Annotated[float, typer.Option(help="Longest overlap used.")] = 120.0,
    check_method: Annotated[
        str,
        typer.Option(
            help="Second method timing another feature of the signal; each pair's σ² is widened "
            "by max(0, D² − σ_D²)/2 (D the two TDOAs' disagreement, σ_D its statistical σ) and "
            "disagreeing pairs are named. auto = carrier for envelope, envelope otherwise; "
            "none turns the check off."
        ),
    ] = "auto",
    reference: Annotated[
        str | None,
        typer.Option(
            help="LAT,LON of a reference transmitter the recordings also contain: its measured "
            "TDOAs minus the geometric ones are the receivers' clock offsets, removed from each "
            "pair (needs --reference-freq-hz)."
        ),
    ] = None,
    reference_freq_hz: Annotated[
        float | None, typer.Option(help="Channel centre of the reference transmitter.")
    ] = None,
    reference_bandwidth_hz: Annotated[
        float | None, typer.Option(help="Channel bandwidth of the reference transmitter.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per pair per line.")] = (
        False
    ),
    allow_unsynchronised: Annotated[
        bool,
        typer.Option(
            "--allow-unsynchronised",
            help="Use recordings whose time is not receiver-synchronised (KiwiSDR blocks with no "
            "GNSS solution, file-name time): their clock offsets go into the TDOAs unmeasured.",
        ),
    ] = False,
    sample_rate_hz: SampleRateHz = None,
    center_freq_hz: CenterFreqHz = None,
) -> int:
    """Time differences between every pair of receivers, as `unseen locate` tdoa rows."""
    import json
    import sys
    from dataclasses import replace

    from unseen.errors import InputError
    from unseen.locate.io import observation_to_row
    from unseen.tdoa import (
        METHODS,
        closures,
        correct_clock,
        cross_check,
        measure,
        on_grid,
        suspect_receivers,
        to_tdoa,
        widen_by_closures,
    )

    if len(recordings) < 2:
        raise InputError("tdoa needs at least two recordings")
    if method not in (*METHODS, "dcf77"):
        raise InputError(f"--method {method!r}; expected one of {', '.join(METHODS)}, dcf77")
    if check_method == "auto":
        check_method = "carrier" if method == "envelope" else "envelope"
    if check_method not in (*METHODS, "none"):
        raise InputError(
            f"--check-method {check_method!r}; expected auto, none or one of {', '.join(METHODS)}"
        )
    if sigma_sys_s < 0:
        raise InputError(f"--sigma-sys-s {sigma_sys_s}; expected ≥ 0")
    ref_pos = _reference(reference, reference_freq_hz, method)
    table = _stations(stations) if stations else {}
    recs = [_open(p, sample_rate_hz, center_freq_hz, None) for p in recordings]
    for r in recs:
        src = (r.extensions or {}).get("unseen:time_source")
        if src in ("no GNSS solution", "file name") and allow_unsynchronised:
            print(
                f"unseen: warning: {r.path}: used without synchronised time ({src}); its "
                "clock offset is in every TDOA with it and not in sigma",
                file=sys.stderr,
            )
    for r in recs:
        if r.site is None:
            site = table.get(r.station) or table.get(_stem(r.path))
            if site is None:
                raise InputError(
                    f"{r.path}: no receiver position in the file; give --stations with a row "
                    f"for station {r.station!r}"
                )
            r.site = site
            r.station = site.station
    names = [r.station for r in recs]
    if len(set(names)) != len(names):
        raise InputError(f"two recordings share a station id: {names}")
    blocks = on_grid(
        recs,
        freq_hz=freq_hz,
        bandwidth_hz=bandwidth_hz,
        max_duration_s=max_duration_s,
        allow_unsynchronised=allow_unsynchronised,
    )
    if method == "dcf77":
        from unseen.tdoa.dcf77 import arrivals, difference

        arr = [arrivals(r) for r in recs]
    # PHAT whitens every bin: keep the noise-only bins outside the channel out of it.
    band = (-bandwidth_hz / 2, bandwidth_hz / 2) if bandwidth_hz else None
    ref_band = (
        (-reference_bandwidth_hz / 2, reference_bandwidth_hz / 2)
        if reference_bandwidth_hz
        else None
    )
    if ref_pos is not None:
        ref_blocks = on_grid(
            recs,
            freq_hz=reference_freq_hz,
            bandwidth_hz=reference_bandwidth_hz,
            max_duration_s=max_duration_s,
            allow_unsynchronised=allow_unsynchronised,
        )
    from unseen.tdoa.measure import pool_echo, with_echo
    from unseen.tdoa.pairs import pairs, redundancy

    idx = pairs(len(recs))
    if method == "dcf77":  # the echo term from the complex signal of each pair
        raw = [
            with_echo(
                difference(arr[i], arr[j], sigma_sys_s=sigma_sys_s),
                measure(blocks[i], blocks[j], method="carrier", band_hz=band).echo_s,
            )
            for i, j in idx
        ]
    else:
        raw = [
            measure(blocks[i], blocks[j], method=method, band_hz=band, sigma_sys_s=sigma_sys_s)
            for i, j in idx
        ]
    bent = [
        (recs[i].station, recs[j].station, m.echo_s)
        for (i, j), m in zip(idx, raw, strict=True)
        if m.echo_s > 3 * max(m.crb_s, m.scatter_s or 0.0)
    ]
    _warn_echo(bent, [r.station for r in recs])
    ms = pool_echo(raw)
    tdoas, disagree = [], []
    for (i, j), m in zip(idx, ms, strict=True):
        if check_method != "none":
            other = measure(blocks[i], blocks[j], method=check_method, band_hz=band)
            m, ok = cross_check(m, other)
            if not ok:
                disagree.append((recs[i].station, recs[j].station, other.tdoa_s - m.tdoa_s))
        f = freq_hz or blocks[i].center_freq_hz
        t = to_tdoa(m, recs[i].site, recs[j].site, freq_hz=f)
        if ref_pos is not None:
            ref_m = measure(ref_blocks[i], ref_blocks[j], method=method, band_hz=ref_band)
            t = correct_clock(t, to_tdoa(ref_m, recs[i].site, recs[j].site), *ref_pos)
        tdoas.append(t)
    _warn_disagreement(disagree, [r.station for r in recs], method, check_method)
    checks = closures(tdoas)
    bad = suspect_receivers(checks)
    for c in checks:
        if not c.ok:
            print(
                f"unseen: warning: TDOA closure {'+'.join(c.stations)} = "
                f"{c.residual_s * 1e6:.2f} µs (σ {c.sigma_s * 1e6:.2f} µs)"
                + (f"; suspect receiver(s): {', '.join(bad)}" if bad else "")
                + "; σ of its pairs"
                + (" through them" if set(bad) & set(c.stations) else "")
                + " widened to close it",
                file=sys.stderr,
            )
    tdoas = widen_by_closures(tdoas, checks, bad)
    k = redundancy(len(recs))  # every pair is printed: locate takes them as independent
    for t in tdoas:
        row = observation_to_row(replace(t, sigma_s=t.sigma_s * k), group)
        row["sigma_pair_s"] = t.sigma_s
        if json_out:
            print(json.dumps(row))
        else:
            print(
                f"{t.site.station:>12s} − {t.site_b.station:<12s} "
                f"{t.tdoa_s * 1e6:12.3f} µs  ± {t.sigma_s * 1e6:.3f} µs"
            )
    return 0


def _reference(text: str | None, freq_hz: float | None, method: str) -> tuple[float, float] | None:
    """(lat, lon) of the reference transmitter from `--reference LAT,LON`, checked."""
    from unseen.errors import InputError

    if text is None:
        if freq_hz is not None:
            raise InputError("--reference-freq-hz needs --reference LAT,LON")
        return None
    try:
        lat, lon = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--reference {text!r}: expected LAT,LON in degrees") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InputError(f"--reference {text!r}: latitude/longitude out of range")
    if freq_hz is None:
        raise InputError("--reference needs --reference-freq-hz (the reference's channel)")
    if method == "dcf77":
        raise InputError("--reference does not apply to --method dcf77 (absolute arrivals)")
    return lat, lon


def _warn_echo(bent: list, stations: list[str]) -> None:
    """Name the pairs whose cross-spectrum phase is bent (an echo, a sky wave or a receiver
    filter: `unseen.tdoa.gcc.echo_sigma`), and the receivers in every such pair and no clean
    one."""
    import itertools
    import sys

    from unseen.tdoa.measure import implicated

    if not bent:
        return
    bad = {frozenset(p[:2]) for p in bent}
    good = {frozenset(p) for p in itertools.combinations(stations, 2)} - bad
    suspects = implicated(list(bad), list(good))
    for a, b, e in bent:
        print(
            f"unseen: warning: {a}–{b}: cross-spectrum phase bent over the band (echo or "
            f"dispersion; σ {e * 1e6:.1f} µs for a 100 µs echo, pooled over all pairs)"
            + (f"; suspect receiver(s): {', '.join(suspects)}" if suspects else ""),
            file=sys.stderr,
        )


def _warn_disagreement(disagree: list, stations: list[str], method: str, check: str) -> None:
    """Warn about pairs whose two methods' TDOAs differ, naming receivers in every such pair
    and in no agreeing one."""
    import itertools
    import sys

    from unseen.tdoa.measure import implicated

    if not disagree:
        return
    bad = {frozenset(p[:2]) for p in disagree}
    good = {frozenset(p) for p in itertools.combinations(stations, 2)} - bad
    suspects = implicated(list(bad), list(good))
    for a, b, d in disagree:
        print(
            f"unseen: warning: {a}–{b}: {method} and {check} TDOAs differ by "
            f"{d * 1e6:.1f} µs; σ widened to cover it"
            + (f"; suspect receiver(s): {', '.join(suspects)}" if suspects else ""),
            file=sys.stderr,
        )


def _stem(path) -> str:
    from pathlib import Path

    name = Path(path).name
    for ext in (".sigmf-meta", ".sigmf-data", ".sigmf-collection", ".sigmf"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return Path(path).stem
