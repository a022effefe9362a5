"""Spurious-minimum census of W* = I_k (Safran and Shamir, ICML 2018) with 95% Wilson intervals.

Copy and edit: change the widths, the runs or the step, then run

    python analyses/ss18_census.py --ks 6 8 10 --runs 200 --out census.png
"""

import argparse

import matplotlib.pyplot as plt

import dynsys as ds
from dynsys.plotting import census_sweep as plot_sweep

PUBLISHED = {6: 0.3, 7: 5.5, 8: 12.6, 9: 21.8, 10: 34.6, 11: 45.5, 12: 58.5, 13: 73.0, 14: 73.6, 15: 80.3,
             16: 85.1, 17: 89.7, 18: 90.0, 19: 93.4, 20: 94.9}

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--ks", type=int, nargs="+", default=[6, 8, 10])
p.add_argument("--runs", type=int, default=100)
p.add_argument("--k-extra", type=int, default=0, help="extra student rows (over-parameterisation)")
p.add_argument("--step", type=float, default=0.1)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--out", default="ss18_census.png")
args = p.parse_args()

sweep = ds.census_sweep(args.ks, args.runs, k_extra=args.k_extra, step=args.step, seed=args.seed, progress=True)
print(sweep.table())
for k, f, (lo, hi) in zip(sweep.ks, sweep.spurious_fractions, sweep.spurious_intervals):
    pub = PUBLISHED.get(k) if args.k_extra == 0 else None
    print(f"k = {k:2d}: {100 * f:5.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]" + (f"   published {pub}%" if pub else ""))
sweep.save(args.out.rsplit(".", 1)[0] + ".npz")
ax = plot_sweep(sweep)
ax.figure.savefig(args.out, dpi=150)
plt.close(ax.figure)
print(f"wrote {args.out}")
