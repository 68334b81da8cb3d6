"""The words mgbench judges with, and the one rule of a verdict on a paper's claim.

Two vocabularies, each defined once and shown on every page that uses it:

- a **bound verdict** (`tight`, `consistent`, `violated`, `inconclusive`) judges a fitted
  log-log slope against a theoretical bound (`benchmark.analysis.bounds.check_bound`), with
  the precision `DEFAULT_PRECISION` and at least `benchmark.analysis.slopes.MIN_RESOLVED` resolved cells;
- a **claim verdict** (`agrees`, `partly agrees`, `disagrees`, `inconclusive`, `no published
  claim`) judges a paper's claim in its own setting, from pieces of evidence each of which
  supports it, contradicts it, or is not resolved (`claim_verdict`). Every study, its page and
  the README's findings use this rule and these words.

Importing this module is cheap (no numpy, no pandas), so the command line reads its defaults here.
"""
from __future__ import annotations

from typing import Iterable

__all__ = ["VERDICTS", "VERDICT_MEANINGS", "DEFAULT_PRECISION", "CLAIM_VERDICTS",
           "CLAIM_VERDICT_MEANINGS", "claim_verdict", "bound_evidence"]

VERDICTS = ("tight", "consistent", "violated", "inconclusive")
DEFAULT_PRECISION = 0.25      # largest slope-interval half-width (exponent units) for tight / violated
VERDICT_MEANINGS: dict[str, str] = {
    "tight": "the slope's 95% interval contains the bound's exponent and is narrower than ± the stated "
             "precision: the data follow the bound's rate",
    "consistent": "the whole slope interval lies on the safe side of the exponent: the quantity falls faster "
                  "(or grows slower) than the bound, which holds but is loose along this axis",
    "violated": "the whole slope interval lies on the wrong side of the exponent and is narrower than ± the "
                "stated precision: the quantity falls slower (or grows faster) than the bound allows",
    "inconclusive": "the data cannot support a slope (fewer than 3 resolved cells, resolved cells at a single "
                    "value, more than half of the cells with neither a value nor an upper limit) or its interval "
                    "is too wide to tell tight from violated; the reason is given",
}

CLAIM_VERDICTS = ("agrees", "partly agrees", "disagrees", "inconclusive", "no published claim")
CLAIM_VERDICT_MEANINGS: dict[str, str] = {
    "agrees": "every resolved piece of evidence supports the paper's claim, and at least half of the pieces are "
              "resolved",
    "partly agrees": "at least half of the pieces are resolved; some support the claim and some contradict it",
    "disagrees": "at least half of the pieces are resolved and none of the resolved ones supports the claim",
    "inconclusive": "fewer than half of the pieces of evidence are resolved (intervals that do not decide, "
                    "bound verdicts that are inconclusive): the data cannot judge the claim",
    "no published claim": "mgbench's own question: no paper claims anything about it",
}


def claim_verdict(evidence: Iterable[bool | None]) -> str:
    """The verdict on a paper's claim from its pieces of evidence.

    Each piece is True (resolved, supports the claim), False (resolved, contradicts it) or None
    (not resolved). `inconclusive` when there is none, or fewer than half are resolved;
    otherwise `agrees` when every resolved piece supports the claim, `disagrees` when none
    does, else `partly agrees`.
    """
    pieces = list(evidence)
    decided = [piece for piece in pieces if piece is not None]
    if not decided or len(decided) < len(pieces) / 2:
        return "inconclusive"
    if all(decided):
        return "agrees"
    if not any(decided):
        return "disagrees"
    return "partly agrees"


def bound_evidence(verdict: str, *, good: Iterable[str] = ("tight", "consistent")) -> bool | None:
    """A bound verdict as a piece of evidence for a claim that the bound holds (`good`): None when
    `inconclusive`, else whether it is one of `good`."""
    return None if verdict == "inconclusive" else verdict in tuple(good)
