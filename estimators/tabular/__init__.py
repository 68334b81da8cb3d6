"""Estimators on tabular MDPs: Liu et al.'s surrogates and split, the practical target, Vuorio et al.'s truncation, their kernels."""
