"""Store a trained stage model as the bundle's shipped model: float16 state dict, checked, digest in large_files.yml.

The source (e.g. ``models/real_ct/model.pt``, the best validation model of ``configs/train_real_ct.json``) is loaded
with :func:`rfr_inpaint.networks.load_network` (``weights_only=True``; the variant is rebuilt from its buffers), its
floating-point tensors are stored as float16 (half the size; the network computes in float32 after loading), the
stored file is loaded back and must rebuild the same variant, and ``large_files.yml``'s SHA-256 of the file is
updated. An existing destination is replaced only with ``--force`` (never silently).

Example (from inside ``monai_bundle/``)::

    python scripts/ship_model.py models/real_ct/model.pt --force
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

import torch

BUNDLE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BUNDLE_DIR))  # run from a checkout without installing

from rfr_inpaint.defaults import SHIPPED_MODEL  # noqa: E402
from rfr_inpaint.networks import load_network  # noqa: E402
from rfr_inpaint.safe_io import atomic_path, atomic_torch_save  # noqa: E402

#: the variant options that the stored file must rebuild as the source did
VARIANT = ("in_channels", "width", "prior", "context_slices", "prior_spacing_exponent", "num_recurrences", "small_hole")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def update_digest(large_files: Path, name: str, digest: str, dry_run: bool = False) -> None:
    """Set the ``hash_val`` of entry ``path: "<name>"`` in a model-zoo ``large_files.yml`` (other lines kept).

    Raises:
        SystemExit: the file has no single such entry (checked before anything is written, also with ``dry_run``).
    """
    text = large_files.read_text(encoding="utf-8")
    pattern = re.compile(rf'(- path: "{re.escape(name)}"\n(?:\s+\w+: .*\n)*?\s+hash_val: )"[0-9a-f]*"')
    new, count = pattern.subn(rf'\1"{digest}"', text)
    if count != 1:
        raise SystemExit(f"{large_files}: no single entry for {name} with a hash_val to update")
    if dry_run:
        return
    with atomic_path(large_files) as tmp:
        Path(tmp).write_text(new, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="trained RFR-Net checkpoint (a stage's model.pt)")
    parser.add_argument("--dest", default=str(BUNDLE_DIR / SHIPPED_MODEL), help=f"default: the bundle's {SHIPPED_MODEL}")
    parser.add_argument("--large-files", default=str(BUNDLE_DIR / "large_files.yml"))
    parser.add_argument("--entry", default=SHIPPED_MODEL, help=f"large_files.yml entry of the file (default {SHIPPED_MODEL})")
    parser.add_argument("--force", action="store_true", help="replace an existing destination")
    args = parser.parse_args(argv)
    source, dest = Path(args.source), Path(args.dest)
    if not source.is_file():
        parser.error(f"{source}: no such checkpoint")
    if dest.exists() and not args.force:
        parser.error(f"{dest} exists: give --force to replace it")
    large_files = Path(args.large_files) if Path(args.large_files).is_file() else None
    if large_files is not None:
        update_digest(large_files, args.entry, "0" * 64, dry_run=True)  # refuse before writing anything
    network = load_network(source)
    state = {k: v.half() if v.is_floating_point() else v for k, v in network.state_dict().items()}
    atomic_torch_save(state, dest)
    stored = load_network(dest)
    expected = {k: getattr(network, k) for k in VARIANT}
    got = {k: getattr(stored, k) for k in VARIANT}
    if got != expected:
        raise SystemExit(f"{dest}: rebuilds {got}, not the source's {expected}")
    digest = _sha256(dest)
    if large_files is not None:
        update_digest(large_files, args.entry, digest)
    print(json.dumps({"source": str(source), "dest": str(dest), "bytes": dest.stat().st_size, "sha256": digest,
                      "variant": got}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
