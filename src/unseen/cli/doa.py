"""CLI commands: `unseen simulate doa`, `unseen doa`, `unseen calibrate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from unseen.cli.app import app, simulate_app
from unseen.cli.options import CenterFreqHz, SampleRateHz
from unseen.errors import InputError

ARRAY_KEY = "unseen:array"
TRUTH_KEY = "unseen:truth"


METHODS = ("bartlett", "capon", "music", "root-music", "esprit", "ml")
WAVEFORMS = ("cw", "am", "fm", "noise")
DATATYPES = ("cf32_le", "ci16_le", "ci8", "cu8")
CRITERIA = ("tw", "mdl", "aic")


def _choice(option: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InputError(f"{option} {value!r}: expected one of {', '.join(allowed)}")
    return value


ArraySpec = Annotated[
    str | None,
    typer.Option(
        "--array",
        help="uca:N:RADIUS_M | ula:N:SPACING_M | JSON file; default: the recording's unseen:array",
    ),
]


def _freq(rec, source: str) -> float:
    """The recording's centre frequency (Hz), which bearings need; an error naming the field."""
    import math

    f = rec.center_freq_hz
    if not (math.isfinite(f) and f > 0):
        field = "core:frequency of its first capture" if rec.captures else "centre frequency"
        raise InputError(
            f"{source}: {field} is {'missing' if f == 0 else f}; bearings need the centre "
            "frequency (> 0 Hz) to turn phase into angle"
        )
    return f


def _first_bad(samples, frame: int, first_frame: int) -> str:
    """Where the first non-finite sample of a block is: frame, channel, sample."""
    import numpy as np

    ch, idx = np.nonzero(~np.isfinite(samples))
    k = int(np.argmin(idx)) if len(idx) else 0
    i = int(idx[k]) if len(idx) else 0
    return (
        f"frame {first_frame + i // frame} (channel {int(ch[k]) if len(ch) else 0}, "
        f"sample {first_frame * frame + i})"
    )


def _array(spec: str | None, heading_deg: float | None, extensions: dict, source: str):
    from unseen.doa import Array

    if spec is not None:
        return Array.from_spec(spec, heading_deg)
    doc = extensions.get(ARRAY_KEY)
    if doc is None:
        raise InputError(f"{source}: no --array given and the recording has no '{ARRAY_KEY}' key")
    return Array.from_dict(doc, heading_deg, source=f"{source}: {ARRAY_KEY}")


@simulate_app.command("doa")
def simulate_doa(
    out: Annotated[Path, typer.Option("--out", help="Output base path (BASE.sigmf-meta/-data).")],
    array: Annotated[str, typer.Option("--array", help="uca:N:RADIUS_M | ula:N:SPACING_M | JSON")],
    azimuth: Annotated[
        list[float], typer.Option("--azimuth", help="Source azimuth, degrees from true north.")
    ],
    snr_db: Annotated[float, typer.Option(help="Per-element SNR of every source, dB.")] = 10.0,
    freq_hz: Annotated[float, typer.Option(help="Centre frequency, Hz.")] = 94.2e6,
    sample_rate_hz: Annotated[float, typer.Option(help="Sample rate, Hz.")] = 1.0e6,
    samples: Annotated[int, typer.Option(min=1, help="Samples per channel.")] = 65536,
    waveform: Annotated[
        str,
        typer.Option(help="cw|am|fm|noise; cw/am/fm source k >= 1 sits k·rate/16 off centre."),
    ] = "noise",
    heading_deg: Annotated[
        float | None,
        typer.Option(help="Array heading, degrees from north (default: the file's, else 0)."),
    ] = None,
    phase_error_deg: Annotated[
        float, typer.Option(help="Per-channel phase errors drawn uniformly in ±X degrees.")
    ] = 0.0,
    phase_seed: Annotated[
        int, typer.Option(help="Seed of the phase errors (same seed, same receiver).")
    ] = 0,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same file).")] = 0,
    datatype: Annotated[str, typer.Option(help="cf32_le|ci16_le|ci8|cu8 on disk.")] = "cf32_le",
) -> int:
    """Write a multi-channel SigMF recording of sources at known azimuths (truth in the meta)."""
    import numpy as np

    from unseen.doa import Array
    from unseen.sim import Emitter, Receiver, simulate
    from unseen.sources.sigmf import write_sigmf

    _choice("--waveform", waveform, WAVEFORMS)
    _choice("--datatype", datatype, DATATYPES)
    arr = Array.from_spec(array, heading_deg)
    arr.check_spacing(freq_hz)
    from unseen import validate

    # complex128 working copies of every source and the array output, per element
    validate.budget(
        16.0 * samples * arr.num_elements * (len(azimuth) + 2),
        f"--samples {samples} on {arr.num_elements} elements with {len(azimuth)} source(s)",
    )
    rng = np.random.default_rng([phase_seed, 1])
    phase = rng.uniform(-phase_error_deg, phase_error_deg, arr.num_elements)
    narrow = waveform != "noise"
    emitters = [
        Emitter(
            float(az),
            snr_db,
            waveform,
            {"audio": "music"} if k % 2 and waveform in ("am", "fm") else {},
            freq_offset_hz=k * sample_rate_hz / 16 if narrow else 0.0,
        )
        for k, az in enumerate(azimuth)
    ]
    block = simulate(
        arr,
        emitters,
        num_samples=samples,
        sample_rate_hz=sample_rate_hz,
        center_freq_hz=freq_hz,
        receiver=Receiver(phase_deg=phase if phase_error_deg else None),
        seed=seed,
    )
    x = block.samples
    if datatype != "cf32_le":
        peak = max(float(np.abs(x.real).max()), float(np.abs(x.imag).max()), 1e-30)
        x = x * np.float32(0.9 / peak)
    truth = {
        "azimuths_deg": [float(a) for a in azimuth],
        "snr_db": snr_db,
        "waveform": waveform,
        "phase_error_deg": [float(p) for p in phase],
        "seed": seed,
    }
    meta = write_sigmf(
        out,
        x,
        sample_rate_hz,
        freq_hz,
        datatype=datatype,
        extensions={ARRAY_KEY: arr.to_dict(), TRUTH_KEY: truth},
    )
    typer.echo(str(meta), err=True)
    return 0


@app.command("doa")
def doa(
    recording: Annotated[Path, typer.Argument(help="Multi-channel SigMF recording.")],
    array: ArraySpec = None,
    heading_deg: Annotated[
        float | None, typer.Option(help="Array heading, degrees (default: from the recording).")
    ] = None,
    method: Annotated[
        str, typer.Option(help="bartlett|capon|music|root-music|esprit|ml")
    ] = "music",
    frame: Annotated[int, typer.Option(min=2, help="Samples per channel per frame.")] = 4096,
    sources: Annotated[
        int | None,
        typer.Option(min=0, help="Number of sources (default: counted, see --criterion)."),
    ] = None,
    calibration: Annotated[
        Path | None, typer.Option(help="Calibration JSON from `unseen calibrate`.")
    ] = None,
    smoothing: Annotated[
        int | None, typer.Option(help="Spatial smoothing subarray length (ULA; coherent sources).")
    ] = None,
    fb: Annotated[bool, typer.Option("--fb", help="Forward-backward averaging.")] = False,
    step_deg: Annotated[float, typer.Option(help="Scan grid step, degrees.")] = 0.1,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per frame.")] = False,
    sample_rate_hz: SampleRateHz = None,
    center_freq_hz: CenterFreqHz = None,
    criterion: Annotated[
        str, typer.Option(help="Source count when --sources is not given: tw|mdl|aic.")
    ] = "tw",
    integrate: Annotated[
        int,
        typer.Option(
            min=1,
            help="Also count sources over this many frames around each (stationary source); "
            "1 = each frame alone.",
        ),
    ] = 8,
) -> int:
    """Bearings per frame of a multi-channel recording (JSON lines with --json)."""
    import sys

    from unseen.doa import Calibration, DoaOptions
    from unseen.sources import open_recording

    _choice("--method", method, METHODS)
    _choice("--criterion", criterion, CRITERIA)
    rec = open_recording(recording, sample_rate_hz=sample_rate_hz, center_freq_hz=center_freq_hz)
    arr = _array(array, heading_deg, rec.extensions, str(recording))
    if rec.num_channels != arr.num_elements:
        raise InputError(
            f"{recording}: {rec.num_channels} channels but the array has "
            f"{arr.num_elements} elements"
        )
    arr.check_spacing(_freq(rec, str(recording)))
    cal = Calibration.load(calibration) if calibration is not None else None
    if frame < arr.num_elements:
        raise InputError(
            f"--frame {frame}: need at least as many samples as elements ({arr.num_elements})"
        )
    if frame > rec.num_samples:
        raise InputError(f"{recording}: --frame {frame} exceeds its {rec.num_samples} samples")
    opts = DoaOptions(
        method=method,
        num_sources=sources,
        step_deg=step_deg,
        forward_backward=fb,
        smoothing=smoothing,
        calibration=cal,
        criterion=criterion,
        integrate=integrate,
    )
    rows = []
    M = arr.num_elements
    # windows of <= 64 MiB on disk (memory-mapped, read in place) or 8 MiB converted
    per_read = (
        max(1, (1 << 26) // (frame * M * 8))
        if opts.compiled
        else max(1, min(64, (1 << 23) // (frame * M)))
    )
    total = rec.num_samples // frame
    rate = rec.sample_rate_hz
    for first in range(0, total, per_read):
        count = min(per_read, total - first)
        try:
            Ks, az, sg, cf = _window(rec, arr, frame, first, count, opts)
        except InputError as e:
            if "NaN" not in str(e):
                raise
            block = rec.read(first * frame, count * frame)
            raise InputError(
                f"{recording}: samples contain NaN or Inf values, first in "
                f"{_first_bad(block.samples, frame, first)}; expected finite IQ"
            ) from None
        t0 = first * frame / rate
        az, sg, cf = az.round(4).tolist(), sg.round(4).tolist(), cf.round(4).tolist()
        lines = []
        for i, k in enumerate(Ks.tolist()):
            row = {
                "frame": first + i,
                "time_s": round(t0 + i * frame / rate, 9),
                "azimuths_deg": az[i][:k],
                "sigma_deg": sg[i][:k],
                "confidence": cf[i][:k],
                "num_sources": k,
                "method": method,
            }
            if as_json:
                lines.append(json.dumps(row))
            else:
                rows.append(row)
        if lines:
            sys.stdout.write("\n".join(lines) + "\n")
    if not as_json:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{recording.name}: {method}, {frame} samples per frame")
        for col in ("frame", "time_s", "azimuth °", "sigma °", "confidence"):
            table.add_column(col, justify="right")
        for r in rows:
            table.add_row(
                str(r["frame"]),
                f"{r['time_s']:.4f}",
                " ".join(f"{a:.2f}" for a in r["azimuths_deg"]) or "-",
                " ".join(f"{s:.2f}" for s in r["sigma_deg"]) or "-",
                " ".join(f"{c:.2f}" for c in r["confidence"]) or "-",
            )
        Console().print(table)
    return 0


def _window(rec, arr, frame: int, first: int, count: int, opts):
    """(K, azimuth, sigma, confidence) arrays of frames [first, first+count): straight from the
    memory-mapped file in its interleaved layout when the method allows, else via IqBlocks."""
    import numpy as np

    from unseen.doa import estimate_frames, estimate_raw

    f = rec.center_freq_at(first * frame)
    win = rec.raw_window(first * frame, count * frame) if opts.compiled else None
    if win is not None:
        raw, offset, scale = win
        return estimate_raw(raw, arr, f, frame, opts, offset, scale)
    block = rec.read(first * frame, count * frame)
    ests = estimate_frames(block, arr, frame, first_frame=first, options=opts)
    M = arr.num_elements
    Ks = np.array([e.num_sources for e in ests], np.int64)
    out = [np.full((len(ests), M - 1), np.nan) for _ in range(3)]
    for i, e in enumerate(ests):
        for a, vals in zip(out, (e.azimuths_deg, e.sigma_deg, e.confidence), strict=True):
            a[i, : len(vals)] = vals
    return (Ks, *out)


@app.command("calibrate")
def calibrate_cmd(
    recording: Annotated[Path, typer.Argument(help="Recording of a known source or noise source.")],
    out: Annotated[Path, typer.Option("--out", help="Calibration JSON to write.")],
    array: ArraySpec = None,
    heading_deg: Annotated[float | None, typer.Option(help="Array heading, degrees.")] = None,
    azimuth: Annotated[
        float | None, typer.Option("--azimuth", help="Known source azimuth, degrees.")
    ] = None,
    noise_source: Annotated[
        bool, typer.Option("--noise-source", help="A common noise source feeds every channel.")
    ] = False,
    freq_hz: Annotated[
        float | None,
        typer.Option(help="Calibrate on the transmitter on this frequency only (channelized)."),
    ] = None,
    bandwidth_hz: Annotated[
        float, typer.Option(help="Channel width around --freq-hz, Hz.")
    ] = 200e3,
    start_s: Annotated[
        float, typer.Option(help="Use the recording from this time (s from its start).")
    ] = 0.0,
    stop_s: Annotated[
        float | None, typer.Option(help="... up to this time (s from its start).")
    ] = None,
    sample_rate_hz: SampleRateHz = None,
    center_freq_hz: CenterFreqHz = None,
) -> int:
    """Estimate per-channel gain/phase offsets and write them as JSON.

    In a recording of several transmitters, --freq-hz/--bandwidth-hz pick the known one (its
    channel is shifted to 0 Hz and low-passed before the covariance) and --start-s/--stop-s
    the time it was on the air."""
    import math

    import numpy as np

    from unseen.doa import calibrate, covariance
    from unseen.sources import open_recording

    if (azimuth is None) == (not noise_source):
        raise InputError("give exactly one of --azimuth DEG or --noise-source")
    for name, v in (("--start-s", start_s), ("--stop-s", stop_s), ("--freq-hz", freq_hz)):
        if v is not None and not (math.isfinite(v) and v >= 0):
            raise InputError(f"{name} {v}: expected a finite number ≥ 0")
    if not (math.isfinite(bandwidth_hz) and bandwidth_hz > 0):
        raise InputError(f"--bandwidth-hz {bandwidth_hz}: expected a positive number")
    rec = open_recording(recording, sample_rate_hz=sample_rate_hz, center_freq_hz=center_freq_hz)
    fs = rec.sample_rate_hz
    i0 = round(start_s * fs)
    i1 = rec.num_samples if stop_s is None else min(round(stop_s * fs), rec.num_samples)
    if i1 - i0 < rec.num_channels:
        raise InputError(
            f"{recording}: --start-s {start_s} --stop-s {stop_s} leaves {max(i1 - i0, 0)} "
            f"samples of {rec.num_samples / fs:.3f} s; expected at least {rec.num_channels}"
        )
    chunk = max(rec.num_channels, min(i1 - i0, 1 << 16))
    R = np.zeros((rec.num_channels, rec.num_channels), complex)
    n = 0
    for a in range(i0, i1 - rec.num_channels + 1, chunk):
        block = rec.read(a, min(chunk, i1 - a))
        if freq_hz is not None:
            from unseen.channelize import channelize

            block = channelize(block, freq_hz, bandwidth_hz)
        R += covariance(block.samples) * block.num_samples
        n += block.num_samples
    if n == 0:
        raise InputError(f"{recording}: needs at least {rec.num_channels} samples per channel")
    R /= n
    if noise_source:
        cal = calibrate(R, n, freq_hz=freq_hz or rec.center_freq_hz)
    else:
        arr = _array(array, heading_deg, rec.extensions, str(recording))
        f = freq_hz if freq_hz is not None else _freq(rec, str(recording))
        cal = calibrate(R, n, array=arr, azimuth_deg=azimuth, freq_hz=f)
    cal.save(out)
    typer.echo(
        "phase_deg "
        + " ".join(f"{p:.2f}" for p in cal.phase_deg)
        + "  gain_db "
        + " ".join(f"{g:.2f}" for g in cal.gain_db),
        err=True,
    )
    return 0
