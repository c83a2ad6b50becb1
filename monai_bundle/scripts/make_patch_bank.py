"""Draw the guided training / validation patches of the shipped model's recipe once and store them as shards.

The 3-D biharmonic prior of a patch costs about a second on one CPU core, far more than a training step of the
small network, so the recipe draws a bank of patches once and trains on it with the eight flips / quarter turns
(``rfr_inpaint.data.patches.PatchBankDataset``). Resumable: existing shards are kept.

Example (the shipped model's banks; see ``docs/README.md``)::

    python scripts/make_patch_bank.py --datalist DATA/datalist.json --split training --out BANK/train --num 3200
    python scripts/make_patch_bank.py --datalist DATA/datalist.json --split validation --out BANK/val --num 128 --seed 1
"""

from __future__ import annotations

import argparse
import json
import sys

from tqdm import tqdm

from rfr_inpaint.data.patches import GuidedPatchDataset, load_volumes, write_patch_bank


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datalist", required=True, help="datalist.json of python -m rfr_inpaint.data.real_ct")
    parser.add_argument("--split", default="training", choices=["training", "validation", "test"])
    parser.add_argument("--out", required=True, help="folder of the bank_*.npz shards")
    parser.add_argument("--num", type=int, default=3200, help="samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=int, default=0, help="first sample index (split a bank across processes)")
    parser.add_argument("--patch", type=int, default=96)
    parser.add_argument("--context-slices", type=int, default=2)
    parser.add_argument("--no-prior", action="store_true")
    parser.add_argument("--prior-spacing-exponent", type=float, default=0.0,
                        help="3-D prior: 0 biharmonic3d, e > 0 biharmonic3d_mm with that exponent (the network's "
                        "prior_spacing_exponent; default 0)")
    parser.add_argument("--two-d-fraction", type=float, default=0.2)
    parser.add_argument("--shard-size", type=int, default=64)
    args = parser.parse_args(argv)
    volumes = load_volumes(args.datalist, args.split)
    dataset = GuidedPatchDataset(
        volumes,
        num_samples=args.start + args.num,
        patch=args.patch,
        prior=not args.no_prior,
        context_slices=args.context_slices,
        two_d_fraction=args.two_d_fraction,
        deterministic=True,
        seed=args.seed,
        prior_spacing_exponent=args.prior_spacing_exponent,
    )
    with tqdm(total=-(-args.num // args.shard_size), desc=f"{args.split} bank", unit="shard") as bar:
        write_patch_bank(dataset, args.out, args.num, args.shard_size, args.start, progress=bar)
    print(json.dumps({"out": args.out, "samples": args.num, "patients": sorted({v["patient"] for v in volumes})}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
