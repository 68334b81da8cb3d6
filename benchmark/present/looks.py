"""One look per estimator: the single mapping estimator (and split) -> colour, marker, line
style and display name used by every figure and page, stable across runs and sweeps.

Built-in estimators have fixed looks (every built-in a different colour-marker pair, so two
never look alike even in a figure that shows them all); any other name (a plug-in) gets a
dark colour and a marker chosen by a hash of its name (not Python's salted `hash`), so it
looks the same in every run. A split (Liu et al.'s inner/Hessian/outer letters) keeps the
estimator's colour and marker and sets the line style, so several splits of one estimator
in one panel stay apart; figures with many splits draw one panel per split instead.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

__all__ = ["Look", "look", "estimator_label", "colour_of", "ESTIMATOR_NAMES", "SPLIT_STYLES"]


@dataclass(frozen=True)
class Look:
    """How one estimator (and split) is drawn and named."""

    colour: str
    marker: str
    linestyle: Any
    name: str


ESTIMATOR_NAMES: dict[str, str] = {
    "dice": "DiCE",
    "loaded": "Loaded DiCE",
    "lvc": "LVC",
    "maml": "MAML (naive autodiff)",
    "first_order": "first-order MAML",
    "exact": "exact",
    "sf": "SF",
    "lsf": "LSF",
    "pw": "PW",
    "es": "ES",
    "fd": "FD (CRN)",
    "truncated": "truncated",
    "sampling_correction": "sampling correction",
    "hessian_bias": "exact + injected Hessian error",
    "off_policy": "off-policy reuse",
    "lola_dice": "LOLA-DiCE",
    "lola_exact": "exact LOLA",
    "lola_off_policy": "off-policy LOLA-DiCE",
    "pes": "PES",
    "nres": "NRES",
}

# Colour-blind-safe colours (seaborn "colorblind" first, then darker extras); one pair each.
_FIXED: dict[str, tuple[str, str]] = {
    "maml": ("#0173b2", "o"),
    "dice": ("#de8f05", "s"),
    "lvc": ("#029e73", "^"),
    "loaded": ("#d55e00", "D"),
    "first_order": ("#cc78bc", "v"),
    "exact": ("#000000", "x"),
    "sf": ("#56b4e9", "P"),
    "lsf": ("#ca9161", "X"),
    "pw": ("#949494", "*"),
    "es": ("#fbafe4", "<"),
    "fd": ("#17becf", ">"),
    "truncated": ("#6a3d9a", "h"),
    "sampling_correction": ("#b8a000", "p"),
    "hessian_bias": ("#555555", "d"),
    "off_policy": ("#8c2d04", "H"),
    "lola_dice": ("#e15759", "o"),
    "lola_exact": ("#4e79a7", "x"),
    "lola_off_policy": ("#76b7b2", "s"),
    "pes": ("#8c564b", "8"),
    "nres": ("#2ca02c", "^"),
}
_PLUGIN_COLOURS = ("#1a1a1a", "#7b1fa2", "#c2185b")
_PLUGIN_MARKERS = ("*", "X", "P", "D", "h", "p")

# Liu et al.'s splits: solid for the sampled-inner-only split the compositional bound
# speaks of, dashes and dots for the others.
SPLIT_STYLES: dict[str, Any] = {
    "lee": "-", "lll": (0, (5, 2)), "lle": (0, (3, 1, 1, 1)), "lel": (0, (1, 1)),
    "ele": (0, (6, 2, 1, 2)), "eel": (0, (2, 2)), "ell": (0, (4, 1, 1, 1, 1, 1)), "eee": (0, (1, 3)),
}


def _digest(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "big")


def colour_of(estimator: str) -> str:
    """The estimator's colour (fixed for built-ins, by a stable hash of the name otherwise)."""
    return look(estimator).colour


def estimator_label(name: str, **parameters: Any) -> str:
    """The paper's name of an estimator, with its distinguishing parameters.

    `truncated` with `jacobian="dice"`, `lambda_c = 0` and a window of at least `steps` is
    DiCE through the whole sampled inner loop and is labelled so; otherwise `truncated (L=..)`
    with the correction coefficient and the Jacobian when they are given.

    Args:
      name: the registered estimator name.
      parameters: any of `window`, `lambda_c`, `jacobian`, `steps`, `split`, `lambda_`.
    """
    base = ESTIMATOR_NAMES.get(name, name)
    present = {key: value for key, value in parameters.items() if _given(value)}
    if name == "truncated":
        window, lambda_c = present.get("window"), present.get("lambda_c")
        jacobian, steps = present.get("jacobian", "naive"), present.get("steps")
        if jacobian == "dice" and lambda_c in (0, 0.0) and window is not None and steps is not None \
                and int(window) >= int(steps):
            return "DiCE"
        parts = [] if window is None else [f"L={int(window)}"]
        if lambda_c is not None:
            parts.append(f"λ_c={_plain_number(lambda_c)}")
        if jacobian not in (None, "naive"):
            parts.append({"dice": "DiCE Jacobian", "lsf": "LSF Jacobian"}.get(jacobian, str(jacobian)))
        return f"truncated ({', '.join(parts)})" if parts else base
    if name == "sampling_correction" and "lambda_c" in present:
        return f"{base} (λ_c={_plain_number(present['lambda_c'])})"
    if name == "loaded" and "lambda_" in present:
        return f"{base} (λ={_plain_number(present['lambda_'])})"
    if "split" in present:
        return f"{base}, split {present['split']}"
    return base


def _given(value: Any) -> bool:
    """False for None, NaN and pandas' NA (a parameter a cell does not have)."""
    if value is None:
        return False
    try:
        return not bool(value != value)
    except TypeError:            # pandas.NA
        return False


def _plain_number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def look(estimator: str, split: str | None = None) -> Look:
    """Colour, marker, line style and display name of an estimator (and split).

    Args:
      estimator: the registered name.
      split: Liu et al.'s split letters, or None.

    Returns:
      `Look`; the same for the same arguments in every process.
    """
    name = str(estimator)
    if name in _FIXED:
        colour, marker = _FIXED[name]
    else:
        digest = _digest(name)
        colour = _PLUGIN_COLOURS[digest % len(_PLUGIN_COLOURS)]
        marker = _PLUGIN_MARKERS[(digest // len(_PLUGIN_COLOURS)) % len(_PLUGIN_MARKERS)]
    linestyle = SPLIT_STYLES.get(str(split), "-") if split else "-"
    return Look(colour, marker, linestyle, estimator_label(name, split=split))
