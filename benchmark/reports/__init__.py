"""Reports of sweeps: the page of one sweep (`sweep`, `mgbench report`) and the bound-checking
suite of a new estimator beside the baselines (`compare`, `mgbench compare`)."""
