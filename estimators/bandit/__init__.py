"""Estimators on the K-armed bandit with a learned learning-rate schedule (Vuorio et al. 2022): lifetimes, truncation, ES, FD."""
