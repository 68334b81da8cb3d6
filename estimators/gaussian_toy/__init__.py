"""Estimators on Tang's Gaussian N-sample toy: SF, LSF, pathwise."""
