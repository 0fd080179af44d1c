"""Locate transmitters: fuse bearings, TDOAs and signal strengths into fixes with uncertainty.

`solve(observations)` → Fix for one group; `solve_many({group: observations})` batches many.
"""

from unseen.locate.solve import solve, solve_many

__all__ = ["solve", "solve_many"]
