"""unseen: find hidden radio transmitters.

IQ samples → detect → channelize → bearings (DOA), time differences (TDOA), signal strengths →
locate (fix with error ellipse) → track → store → serve.
"""

__version__ = "0.1.0"
