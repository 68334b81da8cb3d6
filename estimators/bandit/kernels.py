"""The numba kernel of the bandit lifetime (`estimators.bandit.lifetime`, imported only when the
compiled path runs).

`advance` carries R lifetimes through a range of inner steps, one lifetime at a time (its θ,
tangents T = dθ/dη and cumulative score C stay in registers and L1), from random numbers drawn
in the order the numpy path draws them (`lifetime.sampled_draw`; `draw_block` draws them with
numba's Generator, bit for bit numpy's): per step, the
uniforms `(R, N)` of inverse-CDF sampling (or the Gumbel noise `(G, N, K_arms)` of groups of
lifetimes sharing their random numbers) and then the reward noise `(G, N)`. What is computed is
the numpy path's `run_lifetimes` term by term (its docstring): the softmax policy, the pulls,
the inner update with the learned learning-rate schedule, and inside the window the forward-mode
tangents (naive or DiCE Jacobian), the sampling correction with the meta-discount, the exact
outer terms and the future-value baseline of the reference estimator. Sums run in another
order than numpy's (sequential or reassociated; numpy's are pairwise) and `exp` is a polynomial
(`_exp_shifted`, within 2 ulp of numpy's SIMD exp), so the numbers agree with the numpy path to
rounding, not bit for bit (`tests/test_bandit_kernel.py` states and tests the bound); the pulls
are the same except where a uniform falls within rounding of a boundary of the policy's CDF.
The inverse-CDF draw counts the CDF entries ≤ u by a branchless search of 3 levels (`_count_at_most_32`: the
same count as the numpy path's comparison with every entry, ties included). The arms may be
padded to a multiple of 8 (`padded_arms`, probability exactly 0 on the padding) so that every
loop over them runs whole SIMD vectors.

Every function is `@njit(cache=True)`: compiled once per machine, then loaded from disk.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

TILE = 32
FAST = {"reassoc", "contract", "arcp", "nsz"}   # reorder sums (vectorized), FMA, x/y as x·(1/y): rounding only


@njit(cache=True, nogil=True, fastmath=FAST)
def _future_value(theta, start_policy, means, rates, columns, step, remaining, discount, stride, current, policy, bits,
                  arms):
    """β = Σ_{l=1}^{m−1} d^l V(θ̄_l) along exact inner steps from θ (policy `start_policy`; m =
    `remaining`), `stride` steps per gradient, as `lifetime._future_values` for one row (its horizon = m)."""
    n_arms = theta.shape[0]
    for a in range(n_arms):
        current[a] = theta[a]
        policy[a] = start_policy[a]
    total = 0.0
    power = 1.0
    horizon = remaining
    block = 0
    value = 0.0
    for a in range(n_arms):
        value += policy[a] * means[a]
    while block < horizon - 1:              # `value`: V at the block's start (the previous block's end)
        end = min(block + stride, horizon - 1)
        rate_sum = 0.0
        for offset in range(block, end):
            rate_sum += rates[columns[step + offset]]
        for a in range(n_arms):
            current[a] = current[a] + rate_sum * policy[a] * (means[a] - value)
        _softmax(current, policy, bits, arms)
        value = 0.0
        for a in range(n_arms):
            value += policy[a] * means[a]
        weight = 0.0
        for offset in range(block, end):
            power = power * discount                  # d^(offset + 1)
            if offset + 1 < remaining:
                weight += power
        total += weight * value
        block = end
    return total


@njit(cache=True, nogil=True)
def draw_block(rng, uniforms, normals):
    """Fill uniforms `(S, R, N)` and normals `(S, G, N)` (empty when there is no reward noise) from
    the numpy Generator `rng`, step by step in the numpy path's order: per step `rng.random((R, N))`
    then `rng.standard_normal((G, N))`. numba's Generator runs numpy's algorithms on the same bit
    generator and advances its state in place, so the numbers and the state afterwards are numpy's
    bit for bit (`tests/test_bandit_kernel.py` checks it), at less than half numpy's cost per number."""
    for s in range(uniforms.shape[0]):
        for r in range(uniforms.shape[1]):
            for j in range(uniforms.shape[2]):
                uniforms[s, r, j] = rng.random()
        if normals.shape[0]:
            for g in range(normals.shape[1]):
                for j in range(normals.shape[2]):
                    normals[s, g, j] = rng.standard_normal()


def padded_arms(arms):
    """The arms rounded up to a multiple of 8 (whole SIMD vectors of float64; `advance`)."""
    return -(-arms // 8) * 8


PADDING_LOGIT = -1e300      # the padding's logits: never the largest, probability exactly 0 (`_exp_shifted`)


LOG2E, LN2_HI, LN2_LO = 1.4426950408889634, 6.93147180369123816490e-01, 1.90821492927058770002e-10


@njit(cache=True, nogil=True, fastmath=FAST - {"reassoc"})     # keeps the two-constant reduction and Estrin as written
def _exp_shifted(logits, shift, out, bits, arms):
    """out ← exp(logits − shift) (≤ 0 arguments), in a loop the compiler vectorizes: 2^k e^r with
    k = round(x / ln 2), |r| ≤ ln 2 / 2, e^r by its Taylor polynomial of degree 13 evaluated by
    Estrin's scheme (truncation < 1e-17 relative), and exactly 0 below −708 (numpy: subnormal or 0
    there; a probability < 1e-307 changes nothing). Compiled without `reassoc`, so that the
    reduction by ln 2 in two constants stays exact: measured on [−700, 0], [−40, 0] and [−3, 0]
    within 4.2e-16 relative of numpy's exp (≤ 2 ulp), equal on 65 % of arguments (with
    `reassoc` the compiler merged the two constants: up to 1.6e-15 on [−40, 0])."""
    n = logits.shape[0]
    for a in range(n):
        x = max(logits[a] - shift, -708.0)
        k = math.floor(x * LOG2E + 0.5)
        r = (x - k * LN2_HI) - k * LN2_LO
        r2 = r * r                                     # Estrin's scheme: a dependency chain of 5, not 13
        r4 = r2 * r2
        low = (1.0 + r) + (0.5 + r * (1.0 / 6.0)) * r2
        middle = (1.0 / 24.0 + r * (1.0 / 120.0)) + (1.0 / 720.0 + r * (1.0 / 5040.0)) * r2
        high = ((1.0 / 40320.0 + r * (1.0 / 362880.0)) + (1.0 / 3628800.0 + r * (1.0 / 39916800.0)) * r2
                + (1.0 / 479001600.0 + r * (1.0 / 6227020800.0)) * r4)
        out[a] = low + (middle + high * r4) * r4
        bits[a] = (np.int64(k) + 1023) << 52          # 2^k, k ≥ −1022
    for a in range(arms, n):
        bits[a] = 0                                    # the padding (`advance`): exactly 0
    powers = bits.view(np.float64)
    for a in range(n):
        out[a] = out[a] * powers[a]


@njit(cache=True, nogil=True, fastmath=FAST)
def _softmax(logits, policy, bits, arms):
    """policy ← softmax(logits); returns (max, Σ exp(logits − max)), whose log + max is the log-normaliser."""
    n_arms = logits.shape[0]
    largest = logits[0]
    for a in range(1, n_arms):
        if logits[a] > largest:
            largest = logits[a]
    _exp_shifted(logits, largest, policy, bits, arms)
    normaliser = 0.0
    for a in range(n_arms):
        normaliser += policy[a]
    for a in range(n_arms):
        policy[a] = policy[a] / normaliser
    return largest, normaliser


@njit(cache=True, nogil=True)
def _count_at_most_32(cdf, u):
    """min(#{a : cdf[a] ≤ u}, 31) for a non-decreasing `cdf` of 32 entries (padded with +inf), by
    a branchless search of 3 dependent levels: the bucket of 8 from cdf[7], cdf[15], cdf[23]
    (compared at once), the pair within it from its entries 1, 3, 5, then the entry — the linear
    count for every u (ties included: the entries ≤ u are a prefix, so each level's sum of
    comparisons is the number of its probes ≤ u), so the action min(count, K_arms − 1) is the
    numpy path's (`tests/test_bandit_kernel.py`). Measured: 8 % less time per pull than the
    linear count on 30 arms with the binary search of 5 levels (a loop of 5 steps over a run-time
    bound, or with branches, was 20 % slower than the linear count); these 3 levels (7 probes
    instead of 5, a shorter chain) 2–4 % less than the 5."""
    count = 8 * (np.int64(cdf[7] <= u) + np.int64(cdf[15] <= u) + np.int64(cdf[23] <= u))
    count += 2 * (np.int64(cdf[count + 1] <= u) + np.int64(cdf[count + 3] <= u) + np.int64(cdf[count + 5] <= u))
    count += np.int64(cdf[count] <= u)
    return count


@njit(cache=True, nogil=True, fastmath=FAST)
def advance(first_step, phases, rates, slopes, columns, means, starts, length, uniforms, gumbels, normals, shared, noise,
            differentiate, dice, correction, discount, exact_outer, future, stride, stop_after_window,
            theta, tangent, cumulative, estimate, fitness, log_probability, arms):
    """Advance R lifetimes through steps `first_step`, …, `first_step + S − 1`, in place.

    Shapes: phases `(K,)` int (0/1); rates, slopes `(R, C)` α_i = softplus(η_{phase(i)}) and
    sigmoid(η_{phase(i)}) at column `columns[i]` (`columns (K,)` int: the phases, with one column
    per phase, when η is the same at every step; else 0, …, K − 1, `lifetime.step_schedule`); means
    `(R, K_arms)`; starts `(R,)` window starts w (window [w, w + length)); uniforms `(S, R, N)`
    (`shared` = 1) or empty; gumbels `(S, G, N, K_arms)` (`shared` > 1: rows r share group
    r // shared, actions argmax(θ + G)) or empty; normals `(S, G, N)` (G = R / shared; empty when
    `noise` is 0), in the order drawn. Lifetimes advance in tiles of `TILE` (step by step within
    a tile: the tile's state stays in cache and the random numbers are read in order). State, updated: theta `(R, K_arms)`, tangent `(R, 2, K_arms)`, cumulative
    `(R, 2)`, estimate `(R, 2)` and fitness `(R,)` (sums, not yet divided by L), log_probability
    `(R,)`. Flags: `differentiate`, `dice` (Jacobian), `exact_outer`, `future` (baseline, with its
    `stride`), `stop_after_window` (skip a lifetime's steps after its window: they change
    neither the estimate nor the fitness, only θ_K and the log-probability).

    Padding: means, theta and tangent may be padded from `arms` (the real K_arms) to a multiple of
    8 arms (`padded_arms`) with means 0, logits `PADDING_LOGIT` and tangents 0: the padding gets
    probability exactly 0, so it keeps its values and changes no sum, and the loops over the arms
    run whole SIMD vectors (on 30 arms the compiler's vector loops, 32 wide, otherwise ran in
    their scalar remainder). The Gumbel noise is not padded.
    """
    n_rows, n_arms = theta.shape
    n_steps = uniforms.shape[0] if shared == 1 else gumbels.shape[0]
    batch = uniforms.shape[2] if shared == 1 else gumbels.shape[2]
    policy = np.empty(n_arms)
    cdf = np.full(max(n_arms, 32), np.inf)        # padded with +inf to 32 for `_count_at_most_32`
    gradient = np.empty(n_arms)
    pulled = np.zeros(n_arms)
    actions = np.empty(batch, np.int64)
    rewards = np.empty(batch)
    current = np.empty(n_arms)
    continuation = np.empty(n_arms)
    bits = np.empty(n_arms, np.int64)
    for tile in range(0, n_rows, TILE):
        for s in range(n_steps):
            for row in range(tile, min(tile + TILE, n_rows)):
                step = first_step + s
                group = row if shared == 1 else row // shared
                start = starts[row]
                if stop_after_window and step >= start + length:
                    continue
                largest, normaliser = _softmax(theta[row], policy, bits, arms)
                log_normaliser = largest + math.log(normaliser)
                if shared == 1:
                    total = 0.0
                    for a in range(n_arms):
                        total += policy[a]
                        cdf[a] = total
                    if n_arms <= 32:
                        for j in range(batch):
                            actions[j] = min(_count_at_most_32(cdf, uniforms[s, row, j]), arms - 1)
                    else:
                        for j in range(batch):
                            u = uniforms[s, row, j]
                            count = 0
                            for a in range(n_arms):
                                if cdf[a] <= u:
                                    count += 1
                            actions[j] = min(count, arms - 1)
                else:
                    for j in range(batch):
                        best, best_value = 0, theta[row, 0] + gumbels[s, group, j, 0]
                        for a in range(1, arms):
                            candidate = theta[row, a] + gumbels[s, group, j, a]
                            if candidate > best_value:
                                best, best_value = a, candidate
                        actions[j] = best
                mean_reward = 0.0
                log_likelihood = 0.0
                for j in range(batch):
                    reward = means[row, actions[j]]
                    if noise != 0.0:
                        reward = reward + noise * normals[s, group, j]
                    rewards[j] = reward
                    pulled[actions[j]] += reward / batch
                    mean_reward += reward
                    log_likelihood += theta[row, actions[j]] - log_normaliser
                log_probability[row] += log_likelihood          # as numpy: the step's sum, then added
                mean_reward = mean_reward / batch
                inside = start <= step < start + length
                if inside:
                    fitness[row] += mean_reward
                for a in range(n_arms):      # ĝ = h − r̄ π, h_a = (1/N) Σ_{j: a_j = a} r_j (then h ← 0 for the next step)
                    gradient[a] = pulled[a] - mean_reward * policy[a]
                    pulled[a] = 0.0
                phase = phases[step]
                column = columns[step]
                rate = rates[row, column]
                if differentiate:
                    if inside:
                        policy_tangent0, policy_tangent1 = 0.0, 0.0
                        for a in range(n_arms):
                            policy_tangent0 += policy[a] * tangent[row, 0, a]
                            policy_tangent1 += policy[a] * tangent[row, 1, a]
                        # one pass over the pulls: q_j = T[a_j] − πᵀT, S = Σ_j q_j and Σ_j r_j q_j
                        batch_score0, batch_score1 = 0.0, 0.0
                        pathwise0, pathwise1 = 0.0, 0.0
                        for j in range(batch):
                            score0 = tangent[row, 0, actions[j]] - policy_tangent0
                            score1 = tangent[row, 1, actions[j]] - policy_tangent1
                            batch_score0 += score0
                            batch_score1 += score1
                            pathwise0 += rewards[j] * score0
                            pathwise1 += rewards[j] * score1
                        weighted0, weighted1 = pathwise0 / batch, pathwise1 / batch     # (1/N) Σ_j r_j q_j
                        if exact_outer:
                            value = 0.0
                            for a in range(n_arms):
                                value += policy[a] * means[row, a]
                            pathwise0, pathwise1 = 0.0, 0.0
                            for a in range(n_arms):
                                weight = policy[a] * (means[row, a] - value)
                                pathwise0 += weight * tangent[row, 0, a]
                                pathwise1 += weight * tangent[row, 1, a]
                        else:
                            value = mean_reward
                            pathwise0, pathwise1 = pathwise0 / batch, pathwise1 / batch
                        estimate[row, 0] += pathwise0 + correction * value * cumulative[row, 0]
                        estimate[row, 1] += pathwise1 + correction * value * cumulative[row, 1]
                        if future:
                            baseline = _future_value(theta[row], policy, means[row], rates[row], columns, step,
                                                     start + length - step, discount, stride, current, continuation, bits,
                                                     arms)
                            estimate[row, 0] -= correction * baseline * batch_score0
                            estimate[row, 1] -= correction * baseline * batch_score1
                        cumulative[row, 0] = (cumulative[row, 0] + batch_score0) * discount
                        cumulative[row, 1] = (cumulative[row, 1] + batch_score1) * discount
                        # T ← T + α Ĵ T + ĝ (dα/dη)ᵀ in one pass over the arms (and θ ← θ + α ĝ)
                        slope0 = slopes[row, column] if phase == 0 else 0.0
                        slope1 = slopes[row, column] if phase == 1 else 0.0
                        if dice:
                            # naive: Ĵ T = −r̄ π ⊙ (T − πᵀT); DiCE adds (1/N) Σ_j r_j z_j q_jᵀ with z_j = e_{a_j} − π,
                            # q_j = T[a_j] − πᵀT, i.e. per arm h_a (T_a − πᵀT) − π_a (1/N) Σ_j r_j q_j where
                            # h_a = (1/N) Σ_{j: a_j = a} r_j. As ĝ_a = h_a − r̄ π_a, the two together are
                            # ĝ_a (T_a − πᵀT) − π_a · weighted: the pulls' terms folded into the one pass
                            # (no per-pull scatter; `tests/test_bandit_kernel.py` checks it against the sum over the pulls)
                            for a in range(n_arms):
                                theta[row, a] = theta[row, a] + rate * gradient[a]
                                tangent0, tangent1 = tangent[row, 0, a], tangent[row, 1, a]
                                tangent[row, 0, a] = (tangent0 + rate * (gradient[a] * (tangent0 - policy_tangent0)
                                                                         - policy[a] * weighted0) + gradient[a] * slope0)
                                tangent[row, 1, a] = (tangent1 + rate * (gradient[a] * (tangent1 - policy_tangent1)
                                                                         - policy[a] * weighted1) + gradient[a] * slope1)
                        else:
                            for a in range(n_arms):
                                theta[row, a] = theta[row, a] + rate * gradient[a]
                                tangent0, tangent1 = tangent[row, 0, a], tangent[row, 1, a]
                                tangent[row, 0, a] = (tangent0 + rate * (-mean_reward * policy[a] * (tangent0 - policy_tangent0))
                                                      + gradient[a] * slope0)
                                tangent[row, 1, a] = (tangent1 + rate * (-mean_reward * policy[a] * (tangent1 - policy_tangent1))
                                                      + gradient[a] * slope1)
                    else:
                        for a in range(n_arms):
                            tangent[row, 0, a] = 0.0
                            tangent[row, 1, a] = 0.0
                        cumulative[row, 0] = 0.0
                        cumulative[row, 1] = 0.0
                if not (differentiate and inside):
                    for a in range(n_arms):
                        theta[row, a] = theta[row, a] + rate * gradient[a]
