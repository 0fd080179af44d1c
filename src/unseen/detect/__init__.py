"""Detection: Welch PSD and spectrogram, robust noise floor, CFAR, occupied channels with
bandwidth, SNR, power, burst times and a coarse modulation class; licence registry matching.

    from unseen.detect import detect
    detections = detect(recording_or_block)
"""

from unseen.detect.cfar import cfar, noise_floor, threshold_factor
from unseen.detect.detect import (
    MODULATIONS,
    Features,
    classify,
    detect,
    detect_spectrogram,
    features,
    occupied_band,
)
from unseen.detect.spectrum import Spectrogram, spectrogram, spectrogram_frames, welch_psd

__all__ = [
    "MODULATIONS",
    "Features",
    "Spectrogram",
    "cfar",
    "classify",
    "detect",
    "detect_spectrogram",
    "features",
    "noise_floor",
    "occupied_band",
    "spectrogram",
    "spectrogram_frames",
    "threshold_factor",
    "welch_psd",
]
