"""Basin map from a TOML config: run (or resume) the store, save the result, draw the map.

    python analyses/basin_map.py analyses/configs/reduced_plane_k6.toml [--scheduler tcp://host:8786]

Copy this script and a config and edit them: the config says which model, sampler and flow; the
outputs (store, result .npz, figure .png) go next to the config. Ctrl-C keeps every finished chunk
in the store; running again resumes it. ``dynsys basins CONFIG.toml`` does the same.
"""

import argparse
import sys

import matplotlib

matplotlib.use("Agg")

from dynsys.basins.config import run_config  # noqa: E402
from dynsys.plotting import basin_map  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", help="a basin config (TOML), e.g. analyses/configs/teacher_slice_k4.toml")
    p.add_argument("--scheduler", default=None,
                   help="address of a dask scheduler (tcp://host:8786) to run the chunks on")
    args = p.parse_args(argv)
    client = None
    if args.scheduler:
        from distributed import Client
        client = Client(args.scheduler)
    res, out = run_config(args.config, executor=client, progress=True)
    print(res.table())
    if res.grid_shape is not None and out["figure"] is not None:
        ax = basin_map(res)
        ax.figure.savefig(out["figure"], dpi=150)
        print(f"figure: {out['figure']}")
    if res.grid_shape is not None:
        sb, sbb = res.entropy()
        print(f"basin entropy S_b = {sb:.4f}, boundary basin entropy S_bb = {sbb:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
