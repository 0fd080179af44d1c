"""KrakenSDR DoA DSP outputs of every upstream version (krakenrf/krakensdr_doa).

Test lines are written here the way each version's DSP writes them (field order, formatting and
the DOA field's convention, per the upstream history in `unseen.agent.kraken`); θ is the DSP's
angle, counter-clockwise from the array reference. The array reference points 20° east of true
north; a source at θ = 300° is 60° clockwise from it, so its true bearing is 80°.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from unseen.agent.kraken import (
    KrakenFollower,
    is_xml,
    parse_doa_xml,
    parse_kraken_csv,
    reading_to_row,
)
from unseen.errors import FileFormatError

THETA, HEADING, TRUE = 300.0, 20.0, 80.0


def spectrum(theta: float, width_deg: float = 6.0) -> list[float]:
    """A DSP-like DOA spectrum indexed by θ = 0..359: normalised dB, shifted to a minimum of 0."""
    phi = np.arange(360.0)
    p = 1.0 / (np.radians(width_deg) ** 2 + np.sin(np.radians(phi - theta) / 2) ** 2)
    db = np.maximum(10 * np.log10(p / p.max()), -100.0)
    return list(db - db.min())


def csv_line(version: str, theta=THETA, *, freq=94200000, lat="48.657", lon="-1.99",
             heading=HEADING, papr_db=8.7, time_ms=1700000000123, field=None) -> str:  # fmt: skip
    """One CSV line as the DSP of `version` writes it.

    v1 (before 1751873, 2022-05-16): DOA = int(θ);  v2 (until c0bfd3e, 2023-05-04): int(360 − θ);
    v3 (until 4de18a0, 2024-07-04): θ again;  v4 (since): 360 − θ, lines end with " \\n"."""
    doa = {"v1": int(theta), "v2": int(360 - theta), "v3": int(theta), "v4": int(360 - theta)}
    value = doa[version] if field is None else field
    spec = ", ".join(f"{v:.2f}" for v in spectrum(theta))
    line = (f"{time_ms}, {value}, {papr_db:.2f}, -37.5, {freq}, UCA, 102, parame, {lat}, {lon}, "
            f"{heading}, {heading}, GPS, R, R, R, R, {spec}")  # fmt: skip
    return line + (" \n" if version == "v4" else "\n")


def xml(theta=THETA, lat="48.657", lon="-1.99", heading=HEADING, time_ms=1700000000123,
        papr_db=8.7) -> str:  # fmt: skip
    """doa.xml ("DF Aggregator"): DOA is θ, CONF = int(PAPR × 100), PWR = power + 100."""
    return (
        "<DATA><STATION_ID>parame</STATION_ID>"
        f"<TIME>{time_ms}</TIME><GPS_TIME>0</GPS_TIME><FREQUENCY>94.2</FREQUENCY>"
        f"<LOCATION><LATITUDE>{lat}</LATITUDE><LONGITUDE>{lon}</LONGITUDE>"
        f"<HEADING>{heading}</HEADING><SPEED>0.0</SPEED></LOCATION>"
        f"<DOA>{theta}</DOA><PWR>62.5</PWR><CONF>{int(papr_db * 100)}</CONF><LATENCY>102"
        "</LATENCY><PROCESSING_TIME>35</PROCESSING_TIME><ADC_OVERDRIVE>0</ADC_OVERDRIVE>"
        "<NUM_CORRELATED_SOURCES>0</NUM_CORRELATED_SOURCES><SNR_DB>21.3</SNR_DB></DATA>"
    )


def row(reading, **kw):
    args = dict(station="parame", hunt="h", lat_deg=48.0, lon_deg=-2.0, alt_m=3.0,
                heading_deg=0.0, sigma_deg=4.0)  # fmt: skip
    args.update(kw)
    return reading_to_row(reading, **args)


@pytest.mark.parametrize(
    ("version", "convention"),
    [("v1", "theta"), ("v2", "360-theta"), ("v3", "theta"), ("v4", "360-theta")],
)
@pytest.mark.parametrize("theta", [1.0, 37.0, 135.0, 300.0, 359.0])
def test_csv_convention_of_every_version_is_read_from_the_lines_spectrum(version, convention,
                                                                         theta):  # fmt: skip
    (r,) = parse_kraken_csv(csv_line(version, theta))
    assert r.convention == convention
    # the DOA field is int(angle): within 1° of the truth, whichever the convention
    expected = (360.0 - theta + HEADING) % 360.0
    got = row(r)["bearing_deg"]
    assert abs((got - expected + 180) % 360 - 180) <= 1.0
    x = row(parse_doa_xml(xml(theta=theta)))["bearing_deg"]
    assert abs((got - x + 180) % 360 - 180) <= 1.0  # doa.xml (always θ) agrees


@pytest.mark.parametrize("theta", [0.0, 180.0])
def test_peak_where_both_conventions_agree(theta):
    (r,) = parse_kraken_csv(csv_line("v4", theta))
    assert r.convention == "either"
    assert row(r)["bearing_deg"] == pytest.approx((360.0 - theta + HEADING) % 360.0)


def test_a_line_agreeing_with_neither_takes_the_peak_and_warns_once(tmp_path, caplog):
    out = tmp_path / "DOA_value.html"
    out.write_text(csv_line("v4", field=123) + csv_line("v4", field=124, freq=93500000))
    f = KrakenFollower(Cfg(str(out)))
    with caplog.at_level(logging.WARNING, logger="unseen.kraken"):
        rows = f.poll()
    assert [r["bearing_deg"] for r in rows] == [pytest.approx(TRUE)] * 2
    assert caplog.text.count("agrees with neither") == 1


def test_line_without_spectrum_needs_the_convention_said():
    short = "1700000000123, 60, 8.70, -37.5, 94200000, UCA, 102, parame, 48.657, -1.99, 20, 20\n"
    with pytest.raises(FileFormatError, match="line 1: no 360-value DOA spectrum"):
        parse_kraken_csv(short)
    (r,) = parse_kraken_csv(short, convention="360-theta")
    assert row(r)["bearing_deg"] == pytest.approx(TRUE)


def test_format_is_told_from_content_not_name(tmp_path):
    # before upstream PR #127 DOA_value.html held the XML when "DF Aggregator" was chosen
    a, b = tmp_path / "DOA_value.html", tmp_path / "doa.xml"
    a.write_text(xml())
    b.write_text(csv_line("v4"))
    assert is_xml(a.read_text()) and not is_xml(b.read_text())
    ra, rb = KrakenFollower(Cfg(str(a))).poll(), KrakenFollower(Cfg(str(b))).poll()
    assert ra[0]["bearing_deg"] == pytest.approx(TRUE) == rb[0]["bearing_deg"]
    assert ra[0]["id"] == rb[0]["id"]  # same station, time and frequency: one observation


def test_heading_zero_without_gnss_fix_takes_the_stations_heading():
    nofix = parse_doa_xml(xml(lat="0.0", lon="0.0", heading=0.0))
    r = row(nofix, heading_deg=HEADING)
    assert (r["lat"], r["lon"]) == (48.0, -2.0)
    assert r["bearing_deg"] == pytest.approx(TRUE)
    (c,) = parse_kraken_csv(csv_line("v4", lat="0.0", lon="0.0", heading=0.0))
    assert row(c, heading_deg=HEADING)["bearing_deg"] == pytest.approx(TRUE)
    fix = row(parse_doa_xml(xml()), heading_deg=999.0)  # with a fix, the Kraken's heading
    assert (fix["lat"], fix["lon"]) == (48.657, -1.99) and fix["bearing_deg"] == pytest.approx(TRUE)
    nognss = row(parse_doa_xml(xml()), use_gnss=False, heading_deg=0.0)
    assert (nognss["lat"], nognss["lon"]) == (48.0, -2.0)
    assert nognss["bearing_deg"] == pytest.approx(60.0)


def test_confidence_is_papr_db_over_full_scale_in_both_formats():
    (c,) = parse_kraken_csv(csv_line("v4", papr_db=4.0))
    x = parse_doa_xml(xml(papr_db=4.0))
    assert c.papr_db == pytest.approx(4.0) == x.papr_db
    assert row(c)["confidence"] == pytest.approx(0.4) == row(x)["confidence"]
    (hi,) = parse_kraken_csv(csv_line("v4", papr_db=25.0))
    assert row(hi)["confidence"] == 1.0
    assert reading_to_row(c, station="s", hunt="h", lat_deg=0, lon_deg=0, alt_m=0,
                          heading_deg=0, sigma_deg=1, confidence_full_db=20.0
                          )["confidence"] == pytest.approx(0.2)  # fmt: skip


def test_multi_vfo_csv_gives_one_reading_per_line():
    text = csv_line("v4") + csv_line("v4", 350.0, freq=93500000) + "\n"
    got = parse_kraken_csv(text)
    assert [g.freq_hz for g in got] == [94.2e6, 93.5e6]
    assert row(got[1])["bearing_deg"] == pytest.approx(30.0)  # θ 350°: 10° right of the ref


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("<DATA><DOA>x</DOA></DATA>", "DOA"),
        ("<DATA><TIME>1</TIME></DATA>", "DOA"),
        ("<NOTDATA/>", "expected <DATA>"),
        ("<DATA>", "not valid XML"),
    ],
)
def test_bad_xml_names_the_field(text, match):
    with pytest.raises(FileFormatError, match=match):
        parse_doa_xml(text, "kraken/doa.xml")


def test_bad_csv_names_the_line_and_field():
    with pytest.raises(FileFormatError, match=r"line 2: field DOA = 'abc'"):
        parse_kraken_csv(csv_line("v4") + csv_line("v4", field="abc"))
    with pytest.raises(FileFormatError, match="expected at least 12"):
        parse_kraken_csv("1, 2, 3")
    bad = csv_line("v4").replace(", 0.00,", ", nan,", 1)
    with pytest.raises(FileFormatError, match=r"line 1: field spectrum\[\d+\] = 'nan'"):
        parse_kraken_csv(bad)


class Cfg:
    name, hunt, lat_deg, lon_deg, alt_m, heading_deg = "parame", "h", 48.0, -2.0, 0.0, 0.0

    def __init__(self, url, **src):
        self.source = {"url": url, "sigma_deg": 3.0, "min_confidence": 0.5, **src}


def test_follower_forwards_each_reading_once_above_min_confidence(tmp_path):
    out = tmp_path / "doa.xml"
    out.write_text(xml())
    f = KrakenFollower(Cfg(str(out)))
    first = f.poll()
    assert len(first) == 1 and first[0]["sigma_deg"] == 3.0
    assert f.poll() == []  # the DSP rewrites the same reading until the next update
    out.write_text(xml(time_ms=1700000001123))
    assert len(f.poll()) == 1
    out.write_text(xml(time_ms=1700000002123, papr_db=4.9))
    assert f.poll() == []  # PAPR 4.9 dB < 0.5 × 10 dB
    out.write_text(xml(time_ms=1700000003123, papr_db=5.1))
    assert len(f.poll()) == 1


def test_sigma_never_below_the_floor(tmp_path):
    out = tmp_path / "doa.xml"
    out.write_text(xml())
    assert KrakenFollower(Cfg(str(out), sigma_deg=0.1)).poll()[0]["sigma_deg"] == 0.5


def test_unreachable_kraken_is_an_os_error_the_agent_retries():
    from unseen.serve.process import free_port

    f = KrakenFollower(Cfg(f"http://127.0.0.1:{free_port()}/DOA_value.html"))
    with pytest.raises(OSError, match="KrakenSDR output"):
        f.poll()
