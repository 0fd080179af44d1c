"""Direction finding: array geometry, spatial spectra, subspace methods, bounds, calibration."""
