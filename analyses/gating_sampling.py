"""Theorem 1 (paper 000 Eqn 5, Fig 7): the gating function's closed form against sampling.

Copy and edit: change d, the sample size or the input law, then run

    python analyses/gating_sampling.py --d 10 --samples 1000000 --sampler uniform
"""

import argparse

import numpy as np

import dynsys as ds

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--d", type=int, default=10)
p.add_argument("--pairs", type=int, default=100)
p.add_argument("--samples", type=int, default=100_000)
p.add_argument("--sampler", choices=("gaussian", "uniform"), default="gaussian")
p.add_argument("--seed", type=int, default=0)
args = p.parse_args()

rng = np.random.default_rng(args.seed)
e = rng.normal(size=(args.pairs, args.d))
w = rng.normal(size=(args.pairs, args.d))
g = ds.monte_carlo_gating(e, w, args.samples, sampler=args.sampler, seed=args.seed)
err = g.relative_error("fit" if args.sampler == "uniform" else 1.0)
print(f"{args.sampler} inputs, d = {args.d}, N = {args.samples}: fitted scale {g.fitted_scale:.4f}; relative error "
      f"mean {err.mean():.4f}, max {err.max():.4f}")
for lo, hi in ((0, np.pi / 4), (np.pi / 4, np.pi / 2), (np.pi / 2, 3 * np.pi / 4), (3 * np.pi / 4, np.pi)):
    s = (g.theta >= lo) & (g.theta < hi)
    if s.any():
        print(f"  angle in [{lo:.2f}, {hi:.2f}): mean error {err[s].mean():.4f} over {s.sum()} pairs")
