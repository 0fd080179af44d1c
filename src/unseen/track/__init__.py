"""Track moving transmitters: filters on locate's exact measurement models, association, lifecycle.

`run(observations)` → (updates in time order, final state); `step` is one pure scan update;
`Tracker` takes observations one by one, out of order within a bounded lag.
"""

from unseen.track.tracker import (
    Tracker,
    TrackerState,
    TrackOptions,
    TrackUpdate,
    run,
    step,
    unobservable,
    update_to_dict,
)

__all__ = [
    "TrackOptions",
    "TrackUpdate",
    "Tracker",
    "TrackerState",
    "run",
    "step",
    "unobservable",
    "update_to_dict",
]
