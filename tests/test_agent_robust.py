"""Station agent robustness: --once for every source kind, restarts, unreadable recordings, and
no silent discard whatever the server (or what stands in its place) answers."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from _station import station_config
from unseen.agent import Spool, load_config, run
from unseen.cli import main


class Stub:
    """An HTTP server answering POST /api/v1/observations with `answer(rows) -> (code, body,
    content_type)`; it records every row it acknowledged."""

    def __init__(self, answer):
        self.answer, self.got, self.posts = answer, [], 0
        stub = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                rows = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                rows = rows["observations"]
                stub.posts += 1
                code, body, ctype = stub.answer(rows)
                if code == 200 and ctype == "application/json":
                    stub.got += rows
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def ok(rows):
    return 200, json.dumps({"accepted": len(rows), "duplicates": 0}), "application/json"


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    d = tmp_path_factory.mktemp("rec")
    for k, az in enumerate((40, 75)):
        assert main(["simulate", "doa", "--array", "uca:5:1.0", "--azimuth", str(az),
                     "--snr-db", "10", "--freq-hz", "94.2e6", "--samples", "8192", "--seed",
                     str(k), "--out", str(d / f"r{k}")]) == 0  # fmt: skip
    return d


def cfg(tmp_path, url, source, extra=""):
    return station_config(tmp_path, f"{source}\nframe = 4096\npoll_s = 0.01", url=url,
                          spool="batch = 5", retry="initial_s = 0.01\nmax_s = 0.05",
                          extra=extra)  # fmt: skip


def test_directory_once_exits_skips_the_unreadable_and_never_reprocesses(tmp_path, recordings,
                                                                          caplog):  # fmt: skip
    import shutil

    watch = tmp_path / "in"
    watch.mkdir()
    for f in recordings.iterdir():
        shutil.copy(f, watch / f.name)
    (watch / "bad.sigmf-meta").write_bytes(b'{"global": "\xff\xfe"}')
    shutil.copy(recordings / "r0.sigmf-data", watch / "bad.sigmf-data")
    meta = json.loads((recordings / "r0.sigmf-meta").read_text())
    meta["captures"] = "oops"
    (watch / "caps.sigmf-meta").write_text(json.dumps(meta))
    shutil.copy(recordings / "r0.sigmf-data", watch / "caps.sigmf-data")
    stub = Stub(ok)
    try:
        c = cfg(tmp_path, stub.url, f'kind = "directory"\npath = "{watch}"')
        with caplog.at_level(logging.INFO):
            assert run(c, once=True) == 0
        assert len(stub.got) == 4  # 2 frames of each readable recording
        skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
        assert len(skipped) == 2 and all("\n" not in m for m in skipped)
        assert any("bad.sigmf-meta" in m for m in skipped)
        assert any("caps.sigmf-meta" in m for m in skipped)
        posts = stub.posts
        # a restart finds them delivered (state in the spool): nothing is processed again
        caplog.clear()
        with caplog.at_level(logging.INFO):
            assert run(c, once=True) == 0
        assert len(stub.got) == 4 and stub.posts == posts
        assert "DF the whole band" not in caplog.text  # not even processed
        # so does a file source
        f = cfg(tmp_path, stub.url, f'kind = "file"\npath = "{watch / "r1.sigmf-meta"}"')
        assert run(f, once=True) == 0 and stub.posts == posts
    finally:
        stub.close()


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (lambda rows: (404, '{"detail": "Not Found"}', "application/json"), "HTTP 404"),
        (lambda rows: (405, '{"detail": "Method Not Allowed"}', "application/json"), "HTTP 405"),
        (
            lambda rows: (200, "<html>Welcome to the hotel wifi</html>", "text/html"),
            "captive portal",
        ),
        (
            lambda rows: (422, '{"detail": [{"loc": ["body"], "msg": "bad"}]}', "application/json"),
            "refused every row",
        ),
    ],
)
def test_nothing_is_discarded_when_the_server_is_not_what_it_should_be(
    tmp_path, recordings, caplog, answer, why
):
    stub = Stub(answer)
    try:
        c = cfg(tmp_path, stub.url, f'kind = "file"\npath = "{recordings / "r0.sigmf-meta"}"')
        with caplog.at_level(logging.ERROR, logger="unseen.agent"):
            assert run(c, once=True) == 1
    finally:
        stub.close()
    spool = Spool(tmp_path / "spool.sqlite")
    assert len(spool) == 2 and spool.rejected() == 0  # both bearings kept for later
    lines = [r.getMessage() for r in caplog.records if r.name == "unseen.agent"]
    assert any(why in m for m in lines), lines
    assert all("\n" not in m for m in lines)


def test_rows_refused_for_their_own_content_are_set_aside_with_the_reason(tmp_path, recordings,
                                                                          caplog):  # fmt: skip
    def answer(rows):
        bad = [r for r in rows if r["id"].startswith(first[0])]
        if bad:
            return 422, '{"detail": "bearing_deg: out of range"}', "application/json"
        return ok(rows)

    first: list[str] = []
    src = f'kind = "file"\npath = "{recordings / "r0.sigmf-meta"}"'
    from unseen.pipeline.station import IqFollower

    first.append(IqFollower(cfg(tmp_path, "http://127.0.0.1:9", src)).poll()[0]["id"])
    stub = Stub(answer)
    try:
        c = cfg(tmp_path, stub.url, f'kind = "file"\npath = "{recordings / "r0.sigmf-meta"}"')
        with caplog.at_level(logging.ERROR, logger="unseen.agent"):
            assert run(c, once=True) == 0
    finally:
        stub.close()
    assert len(stub.got) == 1
    spool = Spool(tmp_path / "spool.sqlite")
    assert len(spool) == 0 and spool.rejected() == 1
    assert any(first[0] in r.getMessage() and "out of range" in r.getMessage()
               for r in caplog.records)  # fmt: skip


def test_kraken_once_exits(tmp_path):
    stub = Stub(ok)
    try:
        (tmp_path / "doa.xml").write_text(
            "<DATA><STATION_ID>x</STATION_ID><TIME>1700000000123</TIME><FREQUENCY>94.2</FREQUENCY>"
            "<DOA>300</DOA><CONF>870</CONF><PWR>62</PWR></DATA>"
        )
        p = tmp_path / "k.toml"
        p.write_text(f"""
[station]
name = "dinard"
lat = 48.6
lon = -2.0
[server]
url = "{stub.url}"
token = "t"
hunt = "h"
[spool]
path = "k.sqlite"
[source]
kind = "kraken"
url = "doa.xml"
""")
        assert run(load_config(p), once=True) == 0
        assert len(stub.got) == 1
    finally:
        stub.close()
