"""`mgbench bench`: throughput, memory and scaling of the estimators on fixed reference cells.

Every measurement runs in a fresh Python subprocess, one per cell, with
`OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = MKL_NUM_THREADS = 1` set before numpy is
imported (and `threadpoolctl.threadpool_limits(1)` when threadpoolctl is installed), so
that "per core" is honest and one cell's allocations cannot hide another's. Per cell:

- time: one warm-up call (R = 2), then calls of R repetitions (the sweep runner's block
  size) until a time window has passed and at least a few calls were made; the medians
  of the wall time and of the process CPU time per call are reported. Rates divide by
  the CPU time: the process has one thread, so a CPU second is a second of one core even
  when other processes share the machine (their share shows as `cpu_per_wall` < 1);
- sampled transitions: counted, not computed from a formula: during the first timed call
  every binding of `mdps.sample_trajectories` in the loaded modules is wrapped by a
  counter of R x N x T per call, so the count is R x (sampled parts) x N x T over all K
  steps as the estimator really draws them (`lll` draws 2K + 1 batches). For the toy
  the count is the number of draws X_i (R x N), wrapped the same way;
- peak memory: `resource.getrusage(RUSAGE_SELF).ru_maxrss` of the subprocess, after the
  warm-up (baseline) and after the timed calls; the delta is the cell's own peak, the
  absolute value includes the interpreter, numpy and scipy (~60-100 MB);
- scaling: the CPU time per call of one reference cell at three values of each of R,
  |τ|, K, T and S·A (S varied at A = 5, Liu et al.'s random-MDP law), timed in
  interleaved rounds keeping each value's fastest call, with the least-squares slope of
  log time against log value (1 = linear cost, below 1 = a fixed per-call cost still
  matters, above 1 = super-linear) next to the same slope of the counted transitions;
- speed-up: the vectorized `sf` estimator against the per-trajectory reference of
  `benchmark.bench.reference` (Python loops, `rng.choice` per draw) on the same cell,
  in the same subprocess (ratios hold on a noisy machine; absolute times do not).

Speed is measured, never asserted.

The modules of this package (`mgbench bench` is `benchmark.cli.bench_command`):
- `cells`: `BenchCell`, the reference cells, the scaling axes;
- `run`: `run_bench`, one subprocess per cell, `BenchResult` and `ScalingFit`;
- `measure`: measuring one cell in-process (timing, counted transitions, memory, scaling fits);
- `report`: the tables, the targets, the machine description.
The thread variables are set in the environment the measuring subprocess starts with, so
they hold before numpy is first imported there.
"""
