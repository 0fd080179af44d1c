"""CLI commands: `unseen simulate doa`, `unseen doa`, `unseen calibrate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from unseen.cli.app import app, simulate_app
from unseen.errors import InputError

ARRAY_KEY = "unseen:array"
TRUTH_KEY = "unseen:truth"


METHODS = ("bartlett", "capon", "music", "root-music", "esprit", "ml")
WAVEFORMS = ("cw", "am", "fm", "noise")
DATATYPES = ("cf32_le", "ci16_le", "ci8", "cu8")


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
        return Array.from_spec(spec, 0.0 if heading_deg is None else heading_deg)
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
    heading_deg: Annotated[float, typer.Option(help="Array heading, degrees from north.")] = 0.0,
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
        int | None, typer.Option(min=0, help="Number of sources (default: MDL).")
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
) -> int:
    """Bearings per frame of a multi-channel recording (JSON lines with --json)."""
    from unseen.doa import Calibration, estimate_frames
    from unseen.sources import open_recording

    _choice("--method", method, METHODS)
    rec = open_recording(recording)
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
    rows = []
    per_read = max(1, min(64, (1 << 23) // (frame * arr.num_elements)))
    total = rec.num_samples // frame
    for first in range(0, total, per_read):
        count = min(per_read, total - first)
        block = rec.read(first * frame, count * frame)
        try:
            ests = estimate_frames(
                block,
                arr,
                frame,
                method,
                sources,
                calibration=cal,
                smoothing=smoothing,
                forward_backward=fb,
                step_deg=step_deg,
                first_frame=first,
            )
        except InputError as e:
            if "NaN" not in str(e):
                raise
            raise InputError(
                f"{recording}: samples contain NaN or Inf values, first in "
                f"{_first_bad(block.samples, frame, first)}; expected finite IQ"
            ) from None
        for est in ests:
            row = {
                "frame": est.frame,
                "time_s": round(est.time_s, 9),
                "azimuths_deg": [round(a, 4) for a in est.azimuths_deg],
                "sigma_deg": [round(s, 4) for s in est.sigma_deg],
                "confidence": [round(c, 4) for c in est.confidence],
                "num_sources": est.num_sources,
                "method": est.method,
            }
            if as_json:
                typer.echo(json.dumps(row))
            else:
                rows.append(row)
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
) -> int:
    """Estimate per-channel gain/phase offsets and write them as JSON."""
    import numpy as np

    from unseen.doa import calibrate, covariance
    from unseen.sources import open_recording

    if (azimuth is None) == (not noise_source):
        raise InputError("give exactly one of --azimuth DEG or --noise-source")
    rec = open_recording(recording)
    chunk = max(rec.num_channels, min(rec.num_samples, 1 << 16))
    R = np.zeros((rec.num_channels, rec.num_channels), complex)
    n = 0
    for block in rec.frames(chunk):
        R += covariance(block.samples) * block.num_samples
        n += block.num_samples
    if n == 0:
        raise InputError(f"{recording}: needs at least {rec.num_channels} samples per channel")
    R /= n
    if noise_source:
        cal = calibrate(R, n, freq_hz=rec.center_freq_hz)
    else:
        arr = _array(array, heading_deg, rec.extensions, str(recording))
        f = _freq(rec, str(recording))
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
