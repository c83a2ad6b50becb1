"""Provide ``pydicom._storage_sopclass_uids`` under pydicom 3, for pydicom-seg 0.4.1 (imported by monailabel).

pydicom 3 removed that module (its SOP Class UIDs live in ``pydicom.uid``); pydicom-seg 0.4.1, which the MONAI Label
server imports at start-up, still imports it, so ``monailabel start_server`` fails before any app is loaded.
``monailabel_app/install.sh`` copies this file into the environment's ``site-packages`` with a ``.pth`` line that
imports it at interpreter start. It only appends an import finder: nothing is imported until some code asks for the
old module name, and under pydicom 2 (which still ships the module) the regular finders answer first.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

__all__ = ["OLD_MODULE", "Pydicom3Alias"]

#: the module removed by pydicom 3
OLD_MODULE = "pydicom._storage_sopclass_uids"


class Pydicom3Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finder and loader of :data:`OLD_MODULE` as a module holding the public names of ``pydicom.uid``."""

    def find_spec(
        self, fullname: str, path: object = None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """A spec for :data:`OLD_MODULE` only (this finder runs after the regular ones)."""
        return importlib.util.spec_from_loader(fullname, self) if fullname == OLD_MODULE else None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        """Default module creation."""
        return

    def exec_module(self, module: types.ModuleType) -> None:
        """Copy the public names (the SOP Class UIDs among them) of ``pydicom.uid`` into ``module``."""
        import pydicom.uid

        module.__dict__.update({k: v for k, v in vars(pydicom.uid).items() if not k.startswith("_")})


if not any(isinstance(finder, Pydicom3Alias) for finder in sys.meta_path):
    sys.meta_path.append(Pydicom3Alias())
