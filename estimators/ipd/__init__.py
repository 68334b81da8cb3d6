"""Estimators on the Iterated Prisoner's Dilemma: LOLA-DiCE in closed form (Liu et al. 2022), its compiled kernels."""
