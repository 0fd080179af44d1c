"""Detection on the real recordings in ../shared/data beside an independent numpy check.

PYTHONPATH=src python bench/real_detect.py
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def _open(path, **kw):
    from unseen.sources import open_recording

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_recording(path, **kw)


def _fold_contrast(p, fs, period):
    nb = round(period * fs)
    ph = np.round(np.arange(len(p)) * nb / (period * fs)).astype(int) % nb
    prof = np.bincount(ph, p, nb) / np.bincount(ph, minlength=nb)
    return prof.max() / np.median(prof)


def rows() -> list[dict]:
    """One row per (data set, figure): unseen's value and the independent baseline."""
    from unseen.detect import detect

    out = []
    for f in sorted((DATA / "kiwisdr-dcf77-2020-08-13").glob("*.wav")):
        rec = _open(f)
        x = rec.read().samples[0].astype(np.complex128)
        nfft = 1 << 22
        p = np.abs(np.fft.fft(x * np.hanning(len(x)), nfft)) ** 2
        peak = rec.center_freq_hz + np.fft.fftfreq(nfft, 1 / rec.sample_rate_hz)[np.argmax(p)]
        d = max(detect(rec), key=lambda d: d.power_dbfs)
        out.append(
            {
                "dataset": f"DCF77 {f.name.split('_')[2]}",
                "figure": "carrier freq_hz (truth 77500)",
                "unseen": round(d.freq_hz, 3),
                "baseline": f"numpy long-FFT peak {peak:.3f}",
            }
        )
    for f, gri in (
        ("20251207T170403Z_100000_G4FUI_iq.wav", 0.06731),
        ("20250825T063002Z_100000_QTR_iq.wav", 0.08830),
    ):
        rec = _open(DATA / "kiwisdr-eloran" / f)
        x = rec.read().samples[0]
        c = _fold_contrast(np.abs(x.astype(np.complex128)) ** 2, rec.sample_rate_hz, gri)
        rep = [d.repetition_s for d in detect(rec) if d.repetition_s]
        out.append(
            {
                "dataset": f"eLoran {f.split('_')[2]}",
                "figure": f"repetition_s (GRI {gri})",
                "unseen": round(rep[0], 7) if rep else None,
                "baseline": f"numpy fold on GRI: peak/median {c:.1f}",
            }
        )
    for n in (1, 2, 3):
        path = DATA / "rtl433-433mhz" / f"first_g00{n}_433.92M_250k.cu8"
        rec = _open(path, sample_rate_hz=250e3, center_freq_hz=433.92e6, datatype="cu8")
        x = rec.read().samples[0]
        w = np.abs(x[: len(x) // 256 * 256].reshape(-1, 256)) ** 2
        on = w.mean(axis=1) > 10 * np.median(w.mean(axis=1))
        first = np.flatnonzero(on)[0] * 256 / 250e3
        dets = [d for d in detect(rec) if d.stop_s - d.start_s < 0.5]
        out.append(
            {
                "dataset": f"rtl433 g00{n}",
                "figure": "first packet start_s",
                "unseen": round(min(d.start_s for d in dets), 4) if dets else None,
                "baseline": f"numpy envelope >10x median: {first:.4f}",
            }
        )
        out.append(
            {
                "dataset": f"rtl433 g00{n}",
                "figure": "classes of packet detections",
                "unseen": ",".join(sorted({d.modulation for d in dets})),
                "baseline": "OOK/FSK packets (pulsed)",
            }
        )
    rec = _open(DATA / "sigmf-logo" / "sigmf_logo.sigmf-meta")
    dets = detect(rec)
    w = (np.abs(rec.read().samples) ** 2).mean(axis=0)
    w = w[: len(w) // 48 * 48].reshape(-1, 48).mean(axis=1)
    act = np.flatnonzero(w > 10 * np.median(w[:100]))
    out.append(
        {
            "dataset": "SigMF logo",
            "figure": "activity start–stop s (annotations 0.125–5.875)",
            "unseen": f"{min(d.start_s for d in dets):.3f}–{max(d.stop_s for d in dets):.3f}",
            "baseline": f"annotations 0.125–5.875; 1 ms power >10x noise "
            f"{act[0] * 1e-3:.3f}–{(act[-1] + 1) * 1e-3:.3f}",
        }
    )
    return out


if __name__ == "__main__":
    for r in rows():
        print(f"{r['dataset']:22s} {r['figure']:48s} {r['unseen']!s:>16s}   {r['baseline']}")
