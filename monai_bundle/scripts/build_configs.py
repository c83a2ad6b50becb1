"""Write the bundle's self-contained ``configs/evaluate.json`` = ``configs/train.json`` merged with
``configs/evaluate_overrides.json``.

MONAI bundle configs have no include directive, and ``python -m monai.bundle run evaluating --config_file
configs/evaluate.json`` must work on its own, while the evaluation is naturally written as a few overrides of the
training config (same data pipeline, network definition and metrics). The overrides are therefore kept in
``configs/evaluate_overrides.json`` and merged here with MONAI's own rule (:meth:`ConfigParser.load_config_files`:
later files replace or add ids, ``#`` reaches into nested ids, a ``+`` prefix extends lists and dicts). The
training-only run id ``training`` is left out of the result. Because the result contains ``train.json`` in full, the
model-zoo list form ``"['configs/train.json','configs/evaluate.json']"`` gives the same configuration.

``tests/test_bundle_configs.py`` fails when the committed ``evaluate.json`` differs from this merge, so edit
``train.json`` or ``evaluate_overrides.json`` and re-run, from the bundle folder::

    python scripts/build_configs.py            # rewrite configs/evaluate.json
    python scripts/build_configs.py --check    # exit 1 when configs/evaluate.json is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from monai.bundle import ConfigParser

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"

#: generated config -> (config files merged in this order, run ids removed from the merge)
GENERATED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "evaluate.json": (("train.json", "evaluate_overrides.json"), ("training",))
}


def merged_config(sources: tuple[str, ...], drop: tuple[str, ...] = (), config_dir: str | Path = CONFIG_DIR) -> dict:
    """Merge bundle config files the way ``python -m monai.bundle run --config_file "[a, b]"`` does.

    Args:
        sources: config file names in ``config_dir``, later ones overriding earlier ones.
        drop: top-level ids removed from the merged config.
        config_dir: the folder holding the files.

    Returns:
        the merged config as a plain dict (``#`` override ids resolved into the nested structure).

    Raises:
        FileNotFoundError: when a source file is missing (its path is named).
        KeyError: when an override id such as ``validate#dataset`` names a section the earlier files lack.
    """
    paths = [Path(config_dir) / name for name in sources]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"bundle config {path} does not exist")
    config: dict[str, Any] = ConfigParser.load_config_files([str(p) for p in paths])
    for key in drop:
        config.pop(key, None)
    return config


def render(config: dict) -> str:
    """The JSON text of a config, formatted like the bundle's hand-written configs (4-space indent, final newline)."""
    return json.dumps(config, indent=4) + "\n"


def build(config_dir: str | Path = CONFIG_DIR, check: bool = False) -> list[Path]:
    """Write (or, with ``check``, compare) every generated config of :data:`GENERATED`.

    Args:
        config_dir: the bundle's ``configs`` folder.
        check: do not write; return the generated files whose committed content differs from the merge.

    Returns:
        the files written, or with ``check`` the files that are out of date (empty when all are current).
    """
    changed: list[Path] = []
    for target, (sources, drop) in GENERATED.items():
        path = Path(config_dir) / target
        text = render(merged_config(sources, drop, config_dir))
        current = path.read_text() if path.is_file() else None
        if current != text:
            changed.append(path)
            if not check:
                path.write_text(text)
    return changed


def main(argv: list[str] | None = None) -> int:
    """Command line entry: rewrite the generated configs, or with ``--check`` report stale ones (exit status 1)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config_dir", default=str(CONFIG_DIR), help="the bundle's configs folder")
    parser.add_argument("--check", action="store_true", help="only check that the generated configs are current")
    args = parser.parse_args(argv)
    changed = build(args.config_dir, check=args.check)
    for path in changed:
        print(f"{path}: {'out of date' if args.check else 'written'}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
