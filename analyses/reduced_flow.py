"""Reduced 2D flow of an orthonormal teacher (paper 000 Thm 7, Fig 8): phase portrait and convergence time.

Copy and edit: change K, the start or the window, then run

    python analyses/reduced_flow.py --K 5 --start 0.001 0 --out reduced_K5.png
"""

import argparse

import matplotlib.pyplot as plt
import numpy as np

import dynsys as ds
from dynsys.plotting import phase_portrait

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--K", type=int, default=5, help="teacher = student width (W* = I_K)")
p.add_argument("--start", type=float, nargs=2, default=(1e-3, 0.0), metavar=("X0", "Y0"))
p.add_argument("--t1", type=float, default=60.0, help="integration time")
p.add_argument("--out", default="reduced_flow.png")
args = p.parse_args()

red = ds.ReducedDynamics(args.K)
fps = red.fixed_points()                                   # every fixed point of the plane
model = ds.TeacherStudent(np.eye(args.K))
index = [ds.classify(model, red.embed(f.x, f.y)).morse_index for f in fps]   # index in the full space
tr = red.integrate(*args.start, args.t1, t_eval=np.linspace(0, args.t1, 2000))
dist = np.hypot(tr.x - 1, tr.y)
print(f"K = {args.K}: saddle x_s = {red.saddle():.6f}; fixed points:")
for f, i in zip(fps, index):
    print(f"  ({f.x:+.5f}, {f.y:+.5f})  reduced {f.kind:6s}  full-space index {i}")
hit = np.flatnonzero(dist < 1e-3)
print(f"time to within 1e-3 of the teacher from {tuple(args.start)}: "
      f"{tr.t[hit[0]]:.2f}" if hit.size else "not reached")

fig, ax = plt.subplots(figsize=(5, 4), layout="constrained")
phase_portrait(red, ax, xlim=(-0.8, 1.2), ylim=(-0.3, 1.2), fixed_points=fps, indices=index,
               trajectories=[tr], labels=[f"from {tuple(args.start)}"])
fig.savefig(args.out, dpi=150)
print(f"wrote {args.out}")
