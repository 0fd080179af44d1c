"""Physical minimum sigmas: no measurement is more certain than these, whatever its source says.

Every locate path (CLI, server, station agent, hunt) floors the sigma it is given at these values
(σ_used = max(σ_given, floor)), so one row claiming 1e-300 can neither freeze a fix nor make a
good group look "parallel" (the normal equations stay conditioned to (σ_max/σ_floor)²).

- MIN_SIGMA_DEG = 0.1°: no direction finder's array-model, calibration and site error is below
  a tenth of a degree (precision interferometers quote 0.5–1° RMS on real sites).
- MIN_SIGMA_S = 1 ns: timing of GNSS-disciplined receivers is tens of ns; 1 ns (0.3 m of range
  difference) is below any receiver's clock and sample-interpolation error.
- MIN_SIGMA_DB = 0.5 dB: received-power readings are quantised to 1 dB (0.29 dB RMS) on most
  receivers and their gain calibration is no better than a few tenths of a dB.

Two stricter floors for bearings from field stations (same file, so the numbers live once):

- FIELD_MIN_SIGMA_DEG = 0.5°: the least a deployed DF station (agent, server fusion) may claim;
  an array's model error on a real site is never zero.
- TRUSTED_SIGMA_DEG = 2.0°: the default bearing error the hunt and the station chain trust at
  best for an array calibrated once in the field (model, calibration and site errors the CRB
  does not see); an option (`--sigma-floor-deg`, `sigma_floor_deg`) where the operator knows
  better.

Imports nothing, so servers and agents can read the floors without loading the solver.
"""

MIN_SIGMA_DEG = 0.1
MIN_SIGMA_S = 1e-9
MIN_SIGMA_DB = 0.5
FIELD_MIN_SIGMA_DEG = 0.5
TRUSTED_SIGMA_DEG = 2.0
