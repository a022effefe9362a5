"""Symmetry breaking (paper 000 Sec 6): which teacher permutation tiny perturbations of a symmetric start reach.

Copy and edit: change K, the start, the perturbation size or the number of runs, then run

    python analyses/symmetry_breaking.py --K 3 --runs 600 --eps 1e-6
"""

import argparse
from itertools import permutations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import chisquare

import dynsys as ds

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--K", type=int, default=3)
p.add_argument("--c", type=float, default=0.3, help="symmetric start: every row c (1, ..., 1)")
p.add_argument("--eps", type=float, default=1e-6, help="perturbation standard deviation")
p.add_argument("--runs", type=int, default=600)
p.add_argument("--seed", type=int, default=0)
args = p.parse_args()

K = args.K
model = ds.TeacherStudent(np.eye(K))
rng = np.random.default_rng(args.seed)
W0 = np.full((args.runs, K, K), args.c) + args.eps * rng.normal(size=(args.runs, K, K))
r = ds.flow(model, W0, method="gd", step=0.1, gtol=1e-9, max_steps=200_000, progress=True)
perms = list(permutations(range(K)))
counts = np.zeros(len(perms), int)
other = 0
for W in r.W:
    C = np.sum((W[:, None, :] - model.W_star[None]) ** 2, axis=-1)
    rows, cols = linear_sum_assignment(C)
    if np.sqrt(C[rows, cols].sum()) < 1e-3:
        counts[perms.index(tuple(cols))] += 1
    else:
        other += 1
for q, n in zip(perms, counts):
    print(f"student rows -> teacher rows {tuple(i + 1 for i in q)}: {n}")
print(f"no permutation reached: {other}")
print(f"chi-squared test of equal shares: p = {chisquare(counts).pvalue:.3f}")
