"""Convergence from 1e-3 W* + noise (paper 000 Fig 9, Conjecture 2), optionally with fixed top weights.

Copy and edit: change K, the noise levels or the top weights, then run

    python analyses/noise_convergence.py --K 10 --levels 1 10 100 --runs 32
    python analyses/noise_convergence.py --K 5 --a 1 -1 1 -1 1
"""

import argparse

import numpy as np
from scipy.optimize import linear_sum_assignment

import dynsys as ds

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--K", type=int, default=5, help="W* = I_K, d = K")
p.add_argument("--levels", type=float, nargs="+", default=[0.1, 1, 10, 100, 1000])
p.add_argument("--runs", type=int, default=8)
p.add_argument("--a", type=float, nargs="+", help="fixed top weights (a* = a); default all ones")
p.add_argument("--step", type=float, default=0.1)
p.add_argument("--max-steps", type=int, default=20_000)
p.add_argument("--seed", type=int, default=0)
args = p.parse_args()

W_star = np.eye(args.K)
model = ds.TeacherStudent(W_star, a=args.a, a_star=args.a)
rng = np.random.default_rng(args.seed)


def error(W):
    C = np.sum((W[:, None, :] - W_star[None]) ** 2, axis=-1)
    r, c = linear_sum_assignment(C)
    return np.sqrt(C[r, c].sum()) / np.linalg.norm(W_star)


for level in args.levels:
    # the paper's N(0, 1e-3 * noise), read as a standard deviation
    W0 = 1e-3 * W_star + rng.normal(scale=1e-3 * level, size=(args.runs, args.K, args.K))
    r = ds.flow(model, W0, method="gd", step=args.step, gtol=1e-10, max_steps=args.max_steps)
    err = np.array([error(W) for W in r.W])
    lo, hi = ds.wilson_interval(int(np.sum(err < 1e-3)), args.runs)
    print(f"noise level {level:g}: {np.sum(err < 1e-3)}/{args.runs} converge (95% [{lo:.2f}, {hi:.2f}]); "
          f"median final error {np.median(err):.2e}")
