"""Server ingest benchmark: observations/s and request latency on loopback, fixes kept current.

Starts `unseen serve` on 127.0.0.1 (SQLite file by default, or --db URL), registers stations,
and posts batches of bearings from several client threads (bounded by --total and --max-s).
Reports throughput, p50/p99 latency per batch, how many fixes the server computed meanwhile and
how long after the last acknowledgement the fix covered every observation. As a reference in
the same run it times a bare SQLAlchemy executemany of the same rows into the same kind of
database (the storage ceiling) and prints the ratio. Each of `--rounds` rounds starts a fresh
server (as a user runs `unseen serve`; its start-up to the first /healthz answer is timed) on a
fresh database (SQLite; a PostgreSQL URL is reused, so give one round per fresh database);
figures are min / median / max over rounds, with the server's CPU time (user + system of the
child) per observation beside the wall figures. BLAS threads 1 and glibc's allocator pinned
(bench/_common.py), inherited by the server.

    .venv/bin/python bench/ingest.py [--db postgresql+psycopg://...] [--total 100000] [--rounds 3]
"""

from __future__ import annotations

import _common

if __name__ == "__main__":
    _common.pin()

import argparse
import json
import os
import resource
import secrets
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
from geographiclib.geodesic import Geodesic

from _common import ratios, spread
from unseen.serve.process import ServerProcess

TARGET = (48.64985, -2.02720)
STATIONS = {
    "dinard": (48.63250, -2.06000),
    "aleth": (48.63700, -2.02800),
    "parame": (48.65700, -1.99000),
    "werner": (48.64890, -2.02360),
}


def make_batches(total: int, batch: int, hunt: str, seed: int = 1) -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(seed)
    names = list(STATIONS)
    az = {n: Geodesic.WGS84.Inverse(*STATIONS[n], *TARGET)["azi1"] % 360 for n in names}
    out = []
    for k in range(total // batch):
        name = names[k % len(names)]
        lat, lon = STATIONS[name]
        noise = rng.normal(0.0, 2.0, batch)
        rows = [
            {
                "id": str(uuid.uuid4()),
                "hunt": hunt,
                "kind": "bearing",
                "station": name,
                "time_s": float(k),
                "lat": lat,
                "lon": lon,
                "bearing_deg": float((az[name] + noise[i]) % 360.0),
                "sigma_deg": 2.0,
            }
            for i in range(batch)
        ]
        out.append((name, json.dumps({"observations": rows}).encode()))
    return out


def reference_insert(db: str, batches: list[tuple[str, bytes]]) -> float:
    """Observations/s of a bare executemany of the same rows (one transaction per batch)."""
    import sqlalchemy as sa

    from unseen.store import Repo

    repo = Repo.open(db)
    st, _ = repo.add_station("ref-" + uuid.uuid4().hex[:6], 0.0, 0.0)
    hid = repo.hunt_id("ref-" + uuid.uuid4().hex[:6], create=True)
    from unseen.store.schema import observations

    n = 0
    t0 = time.perf_counter()
    for _, body in batches:
        rows = [dict(r, id=str(uuid.uuid4())) for r in json.loads(body)["observations"]]
        params = [
            {"uuid": r["id"], "hunt_id": hid, "station_id": st["id"], "kind": r["kind"],
             "time_s": r["time_s"], "received_s": 0.0, "row": r}
            for r in rows
        ]  # fmt: skip
        with repo.engine.begin() as conn:
            conn.execute(sa.insert(observations), params)
        n += len(rows)
    dt = time.perf_counter() - t0
    repo.close()
    return n / dt


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process so far (Linux /proc; 0.0 elsewhere)."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def run(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="unseen-ingest-"))
    db = args.db or str(tmp / "ingest.sqlite")
    admin = secrets.token_urlsafe(32)
    hunt = "bench-" + uuid.uuid4().hex[:8]
    batches = make_batches(args.total, args.batch, hunt)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t_start = time.perf_counter()
    with ServerProcess(db, admin, log=tmp / "server.log") as srv:
        startup = time.perf_counter() - t_start
        startup_cpu = _proc_cpu(srv.proc.pid)
        h = {"Authorization": f"Bearer {admin}"}
        tokens = {}
        suffix = uuid.uuid4().hex[:4]
        for name, (lat, lon) in STATIONS.items():
            r = httpx.post(f"{srv.url}/api/v1/stations", headers=h, trust_env=False,
                           json={"name": f"{name}", "lat": lat, "lon": lon})  # fmt: skip
            if r.status_code == 409:  # a reused PostgreSQL database
                raise SystemExit(
                    f"station {name!r} exists in {db}; use a fresh database ({suffix})"
                )
            tokens[name] = r.json()["token"]
        lat_s: list[float] = []
        accepted = [0]
        lock = threading.Lock()
        queue = list(reversed(batches))
        deadline = time.monotonic() + args.max_s
        last_ack = [0.0]
        last_ack_wall = [0.0]

        def worker() -> None:
            with httpx.Client(trust_env=False, timeout=30.0) as c:
                while time.monotonic() < deadline:
                    with lock:
                        if not queue:
                            return
                        name, body = queue.pop()
                    t = time.perf_counter()
                    r = c.post(f"{srv.url}/api/v1/observations", content=body, headers={
                        "Authorization": f"Bearer {tokens[name]}",
                        "Content-Type": "application/json"})  # fmt: skip
                    dt = time.perf_counter() - t
                    if r.status_code != 200:
                        raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
                    with lock:
                        lat_s.append(dt)
                        accepted[0] += r.json()["accepted"]
                        last_ack[0] = time.monotonic()
                        last_ack_wall[0] = time.time()

        threads = [threading.Thread(target=worker) for _ in range(args.clients)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = last_ack[0] - t0
        total = accepted[0]
        # fix currency: time from the last acknowledgement until the fix covers everything
        with httpx.Client(trust_env=False, headers=h) as c:
            last_seq = max(r["seq"] for r in c.get(
                f"{srv.url}/api/v1/hunts/{hunt}/observations",
                params={"after_seq": 0, "limit": 1}).json()) if total else 0  # fmt: skip
            final_seq = None
            lag = float("nan")
            while time.monotonic() - last_ack[0] < 30:
                r = c.get(f"{srv.url}/api/v1/hunts/{hunt}/fix")
                if r.status_code == 200:
                    final_seq = r.json()["last_seq"]
                    if final_seq >= last_seq + total - 1:
                        lag = time.monotonic() - last_ack[0]
                        break
                time.sleep(0.01)
            fixes = c.get(f"{srv.url}/api/v1/hunts/{hunt}/fixes", params={"limit": 10000}).json()
            fix = fixes[-1] if fixes else None
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    during = [f for f in fixes if f["computed_s"] <= last_ack_wall[0]]
    ref = reference_insert(db, batches[: max(1, min(len(batches), 200))])
    lat_ms = sorted(x * 1e3 for x in lat_s)
    miss = Geodesic.WGS84.Inverse(fix["lat"], fix["lon"], *TARGET)["s12"] if fix else float("nan")
    return {
        "db": "postgresql" if db.startswith("postgres") else "sqlite",
        "observations": total,
        "batch": args.batch,
        "clients": args.clients,
        "wall_s": wall,
        "obs_per_s": total / wall,
        "p50_ms": statistics.median(lat_ms),
        "p99_ms": lat_ms[min(len(lat_ms) - 1, int(0.99 * len(lat_ms)))],
        "fixes_computed": len(during),
        "fix_lag_s": lag,
        "fix_miss_m": miss,
        "reference_obs_per_s": ref,
        "startup_s": startup,
        "startup_cpu_s": startup_cpu,
        "server_cpu_us_per_obs": 1e6 * (server_cpu - startup_cpu) / max(total, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", help="database URL or SQLite path (default: a fresh temp SQLite)")
    ap.add_argument("--total", type=int, default=100_000, help="observations to send")
    ap.add_argument("--batch", type=int, default=100, help="observations per request")
    ap.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    ap.add_argument("--max-s", type=float, default=60.0, help="stop sending after this long")
    ap.add_argument("--rounds", type=int, default=3, help="fresh server and database each")
    args = ap.parse_args()
    _common.header("bench/ingest.py")
    print(f"numba cache before round 1: {_common.numba_cache()} (a kernel the server "
          "uses and finds cold compiles during round 1)")  # fmt: skip
    rs = [run(args) for _ in range(args.rounds)]

    def sp(k: str, fmt: str = "{:,.0f}") -> str:
        return spread([r[k] for r in rs], 1, fmt)

    r = rs[0]
    print(f"database            {r['db']}; {args.rounds} rounds, min / median / max")
    print(f"observations        {sp('observations')} in batches of {r['batch']}, "
          f"{r['clients']} clients, {sp('wall_s', '{:.2f}')} s")  # fmt: skip
    print(f"server start-up     {sp('startup_s', '{:.2f}')} s wall, "
          f"{sp('startup_cpu_s', '{:.2f}')} s CPU (`unseen serve` to /healthz, warm-up solve "
          "included)")  # fmt: skip
    print(f"throughput          {sp('obs_per_s')} observations/s")
    print(f"server CPU          {sp('server_cpu_us_per_obs', '{:.0f}')} µs per observation "
          "(requests and fixes, start-up excluded)")  # fmt: skip
    print(f"latency per batch   p50 {sp('p50_ms', '{:.1f}')} ms, p99 {sp('p99_ms', '{:.1f}')} ms")
    print(f"fixes computed      {sp('fixes_computed')} during the run; the fix covered every "
          f"observation {sp('fix_lag_s', '{:.2f}')} s after the last acknowledgement")  # fmt: skip
    print(f"final fix           {sp('fix_miss_m', '{:.1f}')} m from the simulated transmitter")
    ref = [x["reference_obs_per_s"] for x in rs]
    obs = [x["obs_per_s"] for x in rs]
    print(f"reference insert    {spread(ref, 1, '{:,.0f}')} observations/s (bare executemany, "
          f"same database): server/reference per round "
          f"{spread(ratios(obs, ref), 1, '{:.2f}')}")  # fmt: skip
    print(_common.load() + " at the end")


if __name__ == "__main__":
    main()
