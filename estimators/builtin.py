"""Imports every built-in estimator module so that their `@register` lines run."""
import estimators.tabular.liu_probes  # noqa: F401  hessian_bias, off_policy
import estimators.ipd.lola  # noqa: F401  lola_dice, lola_off_policy, lola_exact (IPD)
import estimators.tabular.practical  # noqa: F401  sf, sampling_correction, lsf (practical target)
import estimators.tabular.split  # noqa: F401  dice, loaded, lvc, maml, first_order, exact
import estimators.gaussian_toy.gradients  # noqa: F401  sf, lsf, pw on the Gaussian toy
import estimators.tabular.vuorio  # noqa: F401  truncated, es, fd; bandit: truncated, sf, es, fd
