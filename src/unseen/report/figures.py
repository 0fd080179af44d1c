"""Report figures (matplotlib, Agg) as inline SVG text: spectrum, DOA polar plots, timeline."""

from __future__ import annotations

import io
import math

import numpy as np

from unseen.report.geojson import station_colors
from unseen.report.model import Heatmap, HuntResult


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"
    plt.rcParams["svg.hashsalt"] = "unseen"
    return plt


def spectrum_svg(result: HuntResult) -> str | None:
    """PSD of the band with each detected carrier labelled licensed / UNLICENSED."""
    sp = result.spectrum
    if sp is None:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8.5, 3.4))
    ax.plot(np.asarray(sp.freq_hz) / 1e6, sp.power_db, lw=0.7, color="#333")
    top = float(np.max(sp.power_db))
    for d in result.detections:
        unlicensed = d.licensed is False
        color = "#c00000" if unlicensed else ("#2a7f2a" if d.licensed else "#777")
        label = "UNLICENSED" if unlicensed else ("licensed" if d.licensed else "unknown")
        if d.assignment and d.licensed:
            label += f"\n{d.assignment}"
        lo, hi = (d.freq_hz - d.bandwidth_hz / 2) / 1e6, (d.freq_hz + d.bandwidth_hz / 2) / 1e6
        ax.axvspan(lo, hi, color=color, alpha=0.12)
        ax.annotate(
            f"{d.freq_hz / 1e6:.3f} MHz\n{label}",
            (d.freq_hz / 1e6, top),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
            color=color,
            fontweight="bold" if unlicensed else "normal",
        )
    ax.set_xlabel("frequency (MHz)")
    ax.set_ylabel("power (dBFS / bin)")
    name = next((s.name for s in result.stations if s.id == sp.station), sp.station)
    ax.set_title(f"Band scan at {name}", fontsize=10)
    ax.set_ylim(top=top + 18)
    ax.grid(alpha=0.3)
    return _svg(fig)


def doa_svg(result: HuntResult) -> str | None:
    """Polar DOA pseudo-spectra (dB), north up and clockwise, one panel per station."""
    if not result.doa_spectra:
        return None
    plt = _plt()
    colors = station_colors(result)
    names = {s.id: s.name for s in result.stations}
    n = len(result.doa_spectra)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig = plt.figure(figsize=(2.6 * cols, 2.8 * rows))
    for k, ds in enumerate(result.doa_spectra):
        ax = fig.add_subplot(rows, cols, k + 1, projection="polar")
        ax.set_theta_zero_location("N")
        ax.set_theta_direction(-1)
        p_db = 10 * np.log10(np.maximum(np.asarray(ds.power), 1e-4))
        order = np.argsort(ds.azimuth_deg)
        th = np.radians(np.asarray(ds.azimuth_deg)[order])
        ax.plot(th, p_db[order] + 40, color=colors.get(ds.station, "#333"), lw=1.2)
        ax.plot([math.radians(ds.bearing_deg)] * 2, [0, 40], color="k", lw=0.8, ls="--")  # bearing
        ax.set_ylim(0, 41)
        ax.set_yticks([10, 20, 30, 40], ["-30", "-20", "-10", "0 dB"], fontsize=6)
        ax.tick_params(axis="x", labelsize=7)
        rej = " (rejected)" if ds.station in result.rejected else ""
        utc = utc_text(result, ds.time_s)
        when = f"{ds.time_s:.0f} s" + (f" ({utc} UTC)" if utc else "")
        ax.set_title(
            f"{names.get(ds.station, ds.station)}{rej}\n{ds.bearing_deg:.1f}° at {when}",
            fontsize=8,
        )
    fig.tight_layout()
    return _svg(fig)


def gaps(t: list[float] | np.ndarray, factor: float = 3.0) -> np.ndarray:
    """Indices i where the step t[i] → t[i+1] exceeds `factor` × the median step (off air)."""
    dt = np.diff(np.asarray(t, dtype=float))
    if dt.size < 2:
        return np.zeros(0, dtype=int)
    return np.flatnonzero(dt > factor * max(float(np.median(dt)), 1e-9))


def with_breaks(t, *series) -> tuple[np.ndarray, ...]:
    """`t` and each series with a NaN inserted after every gap, so lines do not join across it."""
    cut = gaps(t) + 1
    return tuple(np.insert(np.asarray(x, dtype=float), cut, np.nan) for x in (t, *series))


def utc_text(result: HuntResult, time_s: float, seconds: bool = True) -> str:
    """The UTC clock time of a scenario time (HH:MM:SS), or "" without a start time."""
    import datetime as dt

    if result.t0_utc_s is None:
        return ""
    t = dt.datetime.fromtimestamp(result.t0_utc_s + time_s, tz=dt.UTC)
    return t.strftime("%H:%M:%S" if seconds else "%H:%M")


def timeline_svg(result: HuntResult) -> str | None:
    """95 % ellipse semi-axes and CEP against time; fix error too when the truth is known.
    Lines break where the fixes stop (the target off the air)."""
    if not result.fixes:
        return None
    import datetime as dt

    from unseen.geo import distance

    plt = _plt()
    fx = result.fixes
    t = [f.time_s for f in fx]
    fig, ax = plt.subplots(figsize=(8.5, 3.0))
    tb, a95, b95, cep = with_breaks(
        t,
        [f.ellipse95.semi_major_m for f in fx],
        [f.ellipse95.semi_minor_m for f in fx],
        [f.cep50_m for f in fx],
    )
    ax.semilogy(tb, a95, "o-", ms=4, label="95% semi-major")
    ax.semilogy(tb, b95, "s-", ms=4, label="95% semi-minor")
    ax.semilogy(tb, cep, "^-", ms=4, label="CEP50")
    if result.truth is not None:
        tr = result.truth

        def err(f) -> float:
            if f is None:
                return math.nan
            return max(float(distance(f.lat_deg, f.lon_deg, tr.lat_deg, tr.lon_deg)), 0.1)

        _, e = with_breaks(t, [err(f) for f in fx])
        ax.semilogy(tb, e, "k*-", lw=2, label=f"error vs {tr.name}")
        if len(result.naive_fixes) == len(fx):
            _, en = with_breaks(t, [err(f) for f in result.naive_fixes])
            if np.any(np.isfinite(en)):
                ax.semilogy(tb, en, "r:", lw=1.5, label="error without rejection")
    for i in gaps(t):
        ax.axvspan(t[i], t[i + 1], color="#999", alpha=0.12, lw=0)
    if len(gaps(t)):
        ax.text(0.5 * (t[gaps(t)[0]] + t[gaps(t)[0] + 1]), 0.02, "no fixes\n(off the air)",
                transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=7,
                color="#555")  # fmt: skip
    xlabel = "scenario time (s)"
    if result.t0_utc_s is not None:
        start = dt.datetime.fromtimestamp(result.t0_utc_s, tz=dt.UTC)
        xlabel += f" from {start:%Y-%m-%d %H:%M:%S} UTC"
    ax.set_xlabel(xlabel)
    ax.set_ylabel("metres")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title("Fix error and ellipse size against time", fontsize=10)
    return _svg(fig)


def heatmap_png(result: HuntResult | Heatmap) -> bytes | None:
    """A likelihood grid (a hunt's final one, or the one given) as an RGBA PNG, transparent
    where unlikely, north up."""
    hm = result.heatmap if isinstance(result, HuntResult) else result
    if hm is None:
        return None
    plt = _plt()
    L = np.asarray(hm.likelihood, dtype=float)
    L = L / L.max() if L.max() > 0 else L
    rgba = plt.get_cmap("inferno_r")(L)
    rgba[..., 3] = np.clip(L, 0, 1) ** 0.5 * 0.75
    rgba[L < 0.005, 3] = 0.0
    buf = io.BytesIO()
    plt.imsave(buf, rgba[::-1], format="png")
    return buf.getvalue()
