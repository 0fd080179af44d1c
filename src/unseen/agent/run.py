"""The station agent loop: a reader thread fills the spool, the main thread delivers it."""

from __future__ import annotations

import logging
import random
import signal
import threading
import time

from unseen.agent.config import StationConfig
from unseen.agent.spool import Spool
from unseen.agent.uplink import RejectedError, StuckError, TransientError, Uplink, backoff_s
from unseen.errors import ConfigError, UnseenError

log = logging.getLogger("unseen.agent")
ONCE_ATTEMPTS = 5


def make_source(cfg: StationConfig, *, state: Spool | None = None, once: bool = False):
    """The observation source of `cfg`: an object with `poll() -> list[rows]`, `poll_s`,
    `exhausted` (True once a finite source has nothing more to give) and optionally
    `mark_done()` (called once the rows of the last poll are durably spooled)."""
    kind = cfg.source["kind"]
    if kind == "kraken":
        from unseen.agent.kraken import KrakenFollower

        return KrakenFollower(cfg, once=once)
    from unseen.pipeline.station import IqFollower

    return IqFollower(cfg, state=state, once=once)


def deliver(spool: Spool, uplink: Uplink, batch: int, *, trusted: bool = False) -> tuple[int, int]:
    """Post spooled rows oldest first until the spool is empty; returns (accepted, duplicates).

    A refused batch is retried row by row: rows refused for their own content are set aside
    (`Spool.reject`, each logged with the server's reason) only when the server accepts others
    (in this batch, or before: `trusted`); when it refuses every row, nothing is set aside and
    StuckError says why. Raises TransientError when the server is away (rows stay spooled)."""
    acc = dup = 0
    while True:
        rows = spool.peek(batch)
        if not rows:
            return acc, dup
        try:
            a, d = uplink.post(rows)
        except RejectedError as exc:
            refused = []
            for one in rows:
                try:
                    a, d = uplink.post([one])
                except RejectedError as e1:
                    refused.append((one, str(e1)))
                    continue
                spool.ack([one["id"]])
                acc, dup, trusted = acc + a, dup + d, True
            if not trusted:
                raise StuckError(
                    f"server refused every row of a batch of {len(rows)} ({exc}); "
                    f"{len(spool)} rows kept in the spool"
                ) from None
            for one, why in refused:
                log.error("observation %s set aside, refused by the server: %s", one["id"], why)
                spool.reject([one], why)
            continue
        spool.ack([r["id"] for r in rows])
        acc, dup, trusted = acc + a, dup + d, True


def run(cfg: StationConfig, *, once: bool = False, max_s: float | None = None) -> int:
    """Run the agent until interrupted (or, with `once`, until the source is exhausted and the
    spool delivered). Returns the exit code: 0, or 1 when rows remain undelivered after `once`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    spool = Spool(cfg.spool_path)
    uplink = Uplink(cfg.url, cfg.token, timeout_s=cfg.timeout_s)
    source = make_source(cfg, state=spool, once=once)
    stop = threading.Event()
    produced = threading.Event()
    failure: list[BaseException] = []

    def on_signal(*_):
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)

    def reader() -> None:
        try:
            while not stop.is_set():
                try:
                    rows = source.poll()
                except (OSError, UnseenError) as exc:
                    if once or isinstance(exc, ConfigError):
                        raise
                    log.warning("source: %s", exc)
                    rows = []
                if rows:
                    spool.put(rows)
                    produced.set()
                done = getattr(source, "mark_done", None)
                if done is not None:
                    done()
                if getattr(source, "exhausted", once):
                    return
                stop.wait(source.poll_s)
        except BaseException as exc:
            failure.append(exc)
        finally:
            produced.set()

    t = threading.Thread(target=reader, name="unseen-source", daemon=True)
    t.start()
    rng = random.Random()
    attempt = 0
    trusted = False
    stuck = False
    t0 = time.monotonic()
    try:
        while not stop.is_set():
            if max_s is not None and time.monotonic() - t0 > max_s:
                break
            try:
                a, d = deliver(spool, uplink, cfg.batch, trusted=trusted)
                if a or d:
                    trusted = True
                    log.info("delivered %d observations (%d duplicates)", a, d)
                attempt = 0
            except StuckError as exc:
                log.error("delivery stopped: %s", exc)
                if once:
                    stuck = True
                    t.join()
                    break
                stop.wait(cfg.max_s)
                continue
            except TransientError as exc:
                wait = backoff_s(attempt, cfg.initial_s, cfg.max_s, rng)
                attempt += 1
                if once and not t.is_alive() and attempt > ONCE_ATTEMPTS:
                    break
                log.warning("server away (%s); %d spooled; retry in %.1f s", exc, len(spool), wait)
                stop.wait(wait)
                continue
            if failure:
                raise failure[0]
            if not t.is_alive():
                if len(spool) == 0:
                    break
                continue
            produced.wait(0.5)
            produced.clear()
    finally:
        stop.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        t.join(timeout=5.0)
        uplink.close()
        left = len(spool)
        spool.close()
    if failure and not isinstance(failure[0], KeyboardInterrupt):
        raise failure[0]
    if left:
        log.warning("%d observations remain spooled for later delivery", left)
    return 1 if (once and (left or stuck)) else 0
