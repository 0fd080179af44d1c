"""KrakenSDR DoA DSP outputs: doa.xml reports θ, the Kraken App CSV line reports 360 − θ."""

from __future__ import annotations

import pytest

from unseen.agent.kraken import (
    KrakenFollower,
    parse_doa_xml,
    parse_kraken_csv,
    reading_to_row,
)
from unseen.errors import FileFormatError

# The DSP's θ is counter-clockwise from the array reference (unit circle); the array reference
# points 20° east of true north. A source at θ = 300° is 60° clockwise from the reference, so
# its true bearing is 80°.
THETA, HEADING, TRUE = 300.0, 20.0, 80.0


def xml(theta=THETA, lat="48.657", lon="-1.99", heading=HEADING, time_ms=1700000000123):
    return (
        "<DATA><STATION_ID>parame</STATION_ID>"
        f"<TIME>{time_ms}</TIME><GPS_TIME>0</GPS_TIME><FREQUENCY>94.2</FREQUENCY>"
        f"<LOCATION><LATITUDE>{lat}</LATITUDE><LONGITUDE>{lon}</LONGITUDE>"
        f"<HEADING>{heading}</HEADING><SPEED>0.0</SPEED></LOCATION>"
        f"<DOA>{theta}</DOA><PWR>62.5</PWR><CONF>87</CONF><LATENCY>102</LATENCY>"
        "<PROCESSING_TIME>35</PROCESSING_TIME><ADC_OVERDRIVE>0</ADC_OVERDRIVE>"
        "<NUM_CORRELATED_SOURCES>0</NUM_CORRELATED_SOURCES><SNR_DB>21.3</SNR_DB></DATA>"
    )


def csv_line(doa=360.0 - THETA, freq=94200000, lat="48.657", lon="-1.99", time_ms=1700000000123):
    spectrum = ", ".join(f"{v:.2f}" for v in (0.0, 1.5, 7.25, 3.0))
    return (
        f"{time_ms}, {doa}, 0.87, -37.5, {freq}, UCA, 102, parame, {lat}, {lon}, "
        f"{HEADING}, {HEADING}, GPS, R, R, R, R, {spectrum} \n"
    )


def row(reading, **kw):
    args = dict(
        station="parame",
        hunt="h",
        lat_deg=48.0,
        lon_deg=-2.0,
        alt_m=3.0,
        heading_deg=0.0,
        sigma_deg=4.0,
    )
    args.update(kw)
    return reading_to_row(reading, **args)


def test_xml_and_csv_of_the_same_bearing_agree():
    rx = parse_doa_xml(xml())
    (rc,) = parse_kraken_csv(csv_line())
    assert rx.relative_deg == pytest.approx(60.0) == rc.relative_deg
    a, b = row(rx), row(rc)
    assert a["bearing_deg"] == pytest.approx(TRUE) == b["bearing_deg"]
    assert a["id"] == b["id"]  # same station, time and frequency: the same observation
    assert row(rx, hunt="other")["id"] != a["id"]  # another hunt never collides
    assert a["freq_hz"] == pytest.approx(94.2e6) == b["freq_hz"]
    assert rx.confidence == pytest.approx(0.87) == rc.confidence
    assert rx.power_db == pytest.approx(-37.5) == rc.power_db
    assert a["time_s"] == pytest.approx(1700000000.123)


@pytest.mark.parametrize("theta", [0.0, 1.0, 90.0, 180.0, 270.0, 359.0])
def test_xml_theta_to_true_bearing_round_trips(theta):
    expected = (360.0 - theta + HEADING) % 360.0
    a = row(parse_doa_xml(xml(theta=theta)))
    b = row(parse_kraken_csv(csv_line(doa=(360.0 - theta) % 360.0))[0])
    assert a["bearing_deg"] == pytest.approx(expected) == b["bearing_deg"]
    assert 0.0 <= a["bearing_deg"] < 360.0


def test_gnss_position_and_heading_are_used_when_valid():
    r = row(parse_doa_xml(xml()))
    assert (r["lat"], r["lon"]) == (48.657, -1.99)
    fixed = row(parse_doa_xml(xml(lat="0.0", lon="0.0")), heading_deg=20.0)
    assert (fixed["lat"], fixed["lon"]) == (48.0, -2.0)  # no GNSS fix: the station's position
    nognss = row(parse_doa_xml(xml()), use_gnss=False, heading_deg=0.0)
    assert (nognss["lat"], nognss["lon"]) == (48.0, -2.0)
    assert nognss["bearing_deg"] == pytest.approx(60.0)


def test_multi_vfo_csv_gives_one_reading_per_line():
    text = csv_line() + csv_line(doa=10.0, freq=93500000) + "\n"
    got = parse_kraken_csv(text)
    assert [g.freq_hz for g in got] == [94.2e6, 93.5e6]
    assert row(got[1])["bearing_deg"] == pytest.approx(30.0)


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
        parse_kraken_csv(csv_line() + csv_line().replace(", 60.0,", ", abc,"))
    with pytest.raises(FileFormatError, match="expected at least 12"):
        parse_kraken_csv("1, 2, 3")


class Cfg:
    name, hunt, lat_deg, lon_deg, alt_m, heading_deg = "parame", "h", 48.0, -2.0, 0.0, 0.0

    def __init__(self, url, fmt):
        self.source = {"url": url, "format": fmt, "sigma_deg": 3.0, "min_confidence": 0.5}


def test_follower_forwards_each_reading_once(tmp_path):
    out = tmp_path / "doa.xml"
    out.write_text(xml())
    f = KrakenFollower(Cfg(str(out), "xml"))
    first = f.poll()
    assert len(first) == 1 and first[0]["sigma_deg"] == 3.0
    assert f.poll() == []  # the DSP rewrites the same reading until the next update
    out.write_text(xml(time_ms=1700000001123))
    assert len(f.poll()) == 1
    out.write_text(xml(time_ms=1700000002123).replace("<CONF>87</CONF>", "<CONF>20</CONF>"))
    assert f.poll() == []  # below min_confidence


def test_unreachable_kraken_is_an_os_error_the_agent_retries():
    from unseen.serve.process import free_port

    f = KrakenFollower(Cfg(f"http://127.0.0.1:{free_port()}/DOA_value.html", "csv"))
    with pytest.raises(OSError, match="KrakenSDR output"):
        f.poll()
