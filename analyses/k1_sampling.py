"""One ReLU (paper 000 Thm 6, Fig 5): P(|w0 - w*| < |w*|) for w0 uniform in a small ball at the origin.

Copy and edit: change d or eps, then run

    python analyses/k1_sampling.py --d 10 --eps 0.5 --samples 100000
"""

import argparse

import numpy as np

import dynsys as ds

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--d", type=int, default=10)
p.add_argument("--eps", type=float, default=0.5)
p.add_argument("--samples", type=int, default=100_000)
p.add_argument("--runs", type=int, default=64, help="gradient-flow runs from the same ball")
p.add_argument("--seed", type=int, default=0)
args = p.parse_args()

rng = np.random.default_rng(args.seed)
r = args.eps * np.sqrt(2 * np.pi / (args.d + 1))            # Thm 6's radius for |w*| = 1


def ball(n):
    x = rng.normal(size=(n, args.d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x * r * rng.uniform(size=(n, 1)) ** (1 / args.d)


w_star = np.eye(1, args.d)
w0 = ball(args.samples)
inside = np.mean(np.linalg.norm(w0 - w_star, axis=1) < 1)
print(f"d = {args.d}, eps = {args.eps}: P(start in Thm 5's region) = {inside:.4f}, bound {(1 - args.eps) / 2:.4f}")
model = ds.TeacherStudent(w_star)
res = ds.flow(model, ball(args.runs)[:, None, :], method="rk4", step=0.02, t1=60.0, gtol=1e-10)
print(f"flow from {args.runs} starts in the ball: {np.mean(np.linalg.norm(res.W[:, 0] - w_star, axis=1) < 1e-3):.3f} "
      f"reach w*")
