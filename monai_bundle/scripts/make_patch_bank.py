"""Draw the guided training / validation patches of the shipped model's recipe once and store them as shards.

The 3-D biharmonic prior of a patch costs 1-2.5 s on one CPU core, far more than a training step of the
small network, so the recipe draws a bank of patches once and trains on it with the eight flips / quarter turns
(``rfr_inpaint.data.patches.PatchBankDataset``). Resumable: existing shards are kept.

Example (banks of the whole training and validation splits; ``docs/README.md`` gives the shipped model's, which name
their patients with ``--patients``)::

    python scripts/make_patch_bank.py --datalist DATA/datalist.json --split training --out BANK/train --num 4096
    python scripts/make_patch_bank.py --datalist DATA/datalist.json --split validation --out BANK/val --num 128 --seed 1

The guide follows the network of a training config (``--config``, default ``configs/train_real_ct.json``): its
``network_def`` is built and its prior, context slices and prior spacing exponent are the bank's, and its
``ct_window`` maps CT to [0, 1]. The bank records that recipe in ``bank.json``; the training config's datasets are
given the network, so a bank drawn for another one is refused before the first step.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from rfr_inpaint.data.patches import NETWORK_RECIPE_KEYS, GuidedPatchDataset, load_volumes, write_patch_bank
from rfr_inpaint.defaults import DEFAULT_CT_WINDOW

#: the shipped model's training recipe
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "train_real_ct.json"


def recipe_options(config: str | Path) -> dict[str, Any]:
    """The guide options of a training config: :data:`NETWORK_RECIPE_KEYS` of its built ``network_def`` (so the
    network's own defaults apply to keys the config leaves out) and its ``ct_window`` (default the CT window).

    Raises:
        SystemExit: the config cannot be read or has no ``network_def`` (the message names the file).
    """
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    try:
        parser.read_config(str(config))
        network = parser.get_parsed_content("network_def")
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit(f"{config}: cannot build the config's network_def: {e}") from e
    options = {key: getattr(network, key) for key in NETWORK_RECIPE_KEYS}
    options["ct_window"] = parser.get_parsed_content("ct_window") if "ct_window" in parser else DEFAULT_CT_WINDOW
    return options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datalist", required=True, help="datalist.json of python -m rfr_inpaint.data.real_ct")
    parser.add_argument("--split", default="training", choices=["training", "validation", "test"])
    parser.add_argument("--patients", default=None,
                        help="comma-separated patients of the split to draw from (default: all of them)")
    parser.add_argument("--out", required=True, help="folder of the bank_*.npz shards")
    parser.add_argument("--num", type=int, default=3200, help="samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=int, default=0, help="first sample index (split a bank across processes)")
    parser.add_argument("--patch", type=int, default=96)
    parser.add_argument("--config", default=str(DEFAULT_CONFIG),
                        help="training config whose network_def the guide is drawn for (default: the shipped recipe, "
                        "configs/train_real_ct.json)")
    parser.add_argument("--two-d-fraction", type=float, default=0.2)
    parser.add_argument("--shard-size", type=int, default=64)
    args = parser.parse_args(argv)
    options = recipe_options(args.config)
    volumes = load_volumes(args.datalist, args.split)
    if args.patients is not None:
        wanted = [p.strip() for p in args.patients.split(",") if p.strip()]
        absent = sorted(set(wanted) - {v["patient"] for v in volumes})
        if absent or not wanted:
            raise SystemExit(f"{args.datalist}: --patients {args.patients!r}: not in the {args.split} split: "
                             f"{', '.join(absent) or '(none given)'}")
        volumes = [v for v in volumes if v["patient"] in wanted]
    dataset = GuidedPatchDataset(
        volumes,
        num_samples=args.start + args.num,
        patch=args.patch,
        two_d_fraction=args.two_d_fraction,
        deterministic=True,
        seed=args.seed,
        **options,
    )
    with tqdm(total=-(-args.num // args.shard_size), desc=f"{args.split} bank", unit="shard") as bar:
        try:
            write_patch_bank(dataset, args.out, args.num, args.shard_size, args.start, progress=bar)
        except ValueError as e:  # the folder holds a bank of another recipe
            raise SystemExit(str(e)) from e
    print(json.dumps({"out": args.out, "samples": args.num, "recipe": dataset.recipe}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
