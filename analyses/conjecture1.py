"""Conjecture 1 (paper 000 Sec 5.3, Fig 10): the sign of L_12 on an N x N grid, with error control.

Copy and edit: change N or the grid, then run

    python analyses/conjecture1.py --N 10000 --grid endpoint
"""

import argparse

import dynsys as ds

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--N", type=int, default=2000)
p.add_argument("--grid", choices=("midpoint", "endpoint"), default="midpoint")
args = p.parse_args()

scan = ds.conjecture1_scan(args.N, grid=args.grid)
print(scan.summary())
scan.save(f"conjecture1_{args.grid}_{args.N}.npz")
