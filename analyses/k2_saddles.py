"""The K = 2 saddle families (paper 000 Sec 5.3) for any teacher norms and angle, checked by classify.

Copy and edit: change the teacher, then run

    python analyses/k2_saddles.py --norms 1 5 --theta 3.0 --d 4
"""

import argparse

import dynsys as ds

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--norms", type=float, nargs=2, default=(1.0, 1.0))
p.add_argument("--theta", type=float, default=2.5, help="angle between the teacher rows")
p.add_argument("--d", type=int, default=2, help="input dimension")
p.add_argument("--c", type=float, default=0.3, help="family member: w_1 = c S e, w_2 = (1 - c) S e")
args = p.parse_args()

print(f"equal-norm bisector index changes at theta = {ds.k2_equal_norm_threshold():.6f}")
for fam in ds.k2_saddle_families(*args.norms, args.theta):
    cp = ds.classify(ds.TeacherStudent(fam.teacher(args.d)), fam.W(args.c, args.d))
    print(f"theta_1 = {fam.theta1:.4f}: predicted index {fam.index(args.d)}, measured {cp.kind} index "
          f"{cp.morse_index} nullity {cp.nullity} (|grad| {cp.grad_norm:.1e})")
