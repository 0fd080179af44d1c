"""The DF station agent: source (IQ pipeline or KrakenSDR) → spool (SQLite) → server."""

from unseen.agent.config import StationConfig, load_config
from unseen.agent.run import deliver, run
from unseen.agent.spool import Spool
from unseen.agent.uplink import Uplink, backoff_s

__all__ = ["Spool", "StationConfig", "Uplink", "backoff_s", "deliver", "load_config", "run"]
