"""Python dependencies of the RFR Inpaint module inside 3D Slicer: checked on first use, installed after consent.

PyTorch is installed through the PyTorch extension's ``PyTorchUtils`` module when it is present (it picks the build
that matches the GPU driver); the other packages (``Resources/requirements.txt``) through ``slicer.util.pip_install``.
Nothing is installed unless the ``confirm`` callback, given by the GUI (e.g. ``slicer.util.confirmOkCancelDisplay``),
returns True. This module imports no Qt and no Slicer at import time, so it is unit-tested outside Slicer.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = [
    "REQUIREMENTS_FILE",
    "MINIMUM_TORCH_VERSION",
    "DependencyError",
    "read_requirements",
    "missing_requirements",
    "ensure_dependencies",
]

REQUIREMENTS_FILE = Path(__file__).resolve().parents[1] / "Resources" / "requirements.txt"
MINIMUM_TORCH_VERSION = "2.2"

#: import name of each distribution of requirements.txt whose import name differs from its distribution name
_IMPORT_NAMES = {
    "scikit-image": "skimage",
    "opencv-python-headless": "cv2",
    "pytorch-ignite": "ignite",
    "SimpleITK": "SimpleITK",
}


class DependencyError(RuntimeError):
    """Required Python packages are missing and were not installed."""


def read_requirements(path: str | Path = REQUIREMENTS_FILE) -> list[str]:
    """Requirement specifiers (one per non-empty, non-comment line) of a requirements file.

    Args:
        path: requirements file (default: the module's ``Resources/requirements.txt``).

    Returns:
        the specifiers, e.g. ``["monai>=1.4,<2", ...]``.

    Raises:
        FileNotFoundError: no such file.
    """
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def _distribution(specifier: str) -> str:
    for i, char in enumerate(specifier):
        if char in "<>=!~[; ":
            return specifier[:i]
    return specifier


def _import_name(specifier: str) -> str:
    name = _distribution(specifier)
    return _IMPORT_NAMES.get(name, name.replace("-", "_"))


def missing_requirements(requirements: Sequence[str] | None = None) -> list[str]:
    """The requirement specifiers whose package cannot be imported (PyTorch is checked separately as ``torch``).

    Args:
        requirements: specifiers (default: :func:`read_requirements`).

    Returns:
        the missing ones, in order.
    """
    requirements = read_requirements() if requirements is None else list(requirements)
    return [spec for spec in requirements if importlib.util.find_spec(_import_name(spec)) is None]


def _torch_installer() -> Callable[[], bool] | None:
    """Install PyTorch through the PyTorch extension (asks the user itself); None when the extension is absent."""
    try:
        import PyTorchUtils  # the PyTorch extension's module, present when the extension is installed
    except ImportError:
        return None

    def install() -> bool:
        logic = PyTorchUtils.PyTorchUtilsLogic()
        if logic.torchInstalled():
            return True
        return (
            logic.installTorch(askConfirmation=True, torchVersionRequirement=f">={MINIMUM_TORCH_VERSION}") is not None
        )

    return install


def _pip_install(specifiers: Sequence[str]) -> None:
    import slicer

    # one space-separated string: accepted by every Slicer version (specifiers hold no spaces)
    slicer.util.pip_install(" ".join(specifiers))


def ensure_dependencies(
    confirm: Callable[[str], bool],
    requirements: Sequence[str] | None = None,
    pip_install: Callable[[Sequence[str]], None] | None = None,
    torch_installer: Callable[[], bool] | None | str = "auto",
) -> bool:
    """Check the module's Python dependencies; install the missing ones only if the user agrees.

    Args:
        confirm: called with a message listing what would be installed; True means go ahead.
        requirements: specifiers to check (default: ``Resources/requirements.txt``).
        pip_install: installs a list of specifiers (default: ``slicer.util.pip_install``).
        torch_installer: installs PyTorch and returns success (default ``"auto"``: the PyTorch extension's
            ``PyTorchUtilsLogic().installTorch`` when present, otherwise pip).

    Returns:
        True when everything was already importable (nothing asked), or was installed.

    Raises:
        DependencyError: the user declined, or packages are still missing after installation.
    """
    requirements = read_requirements() if requirements is None else list(requirements)
    need_torch = importlib.util.find_spec("torch") is None
    missing = missing_requirements(requirements)
    if not need_torch and not missing:
        return True
    if torch_installer == "auto":
        torch_installer = _torch_installer()
    wanted = (
        ["torch (through the PyTorch extension)" if torch_installer else f"torch>={MINIMUM_TORCH_VERSION}"]
        if need_torch
        else []
    ) + missing
    message = (
        "RFR Inpaint needs these Python packages, which are not installed:\n  "
        + "\n  ".join(wanted)
        + "\n\nInstall them now? This may take several minutes."
    )
    if not confirm(message):
        raise DependencyError("RFR Inpaint cannot run without: " + ", ".join(wanted) + " (installation declined)")
    pip_install = pip_install or _pip_install
    if need_torch:
        if torch_installer:
            if not torch_installer():
                raise DependencyError("PyTorch was not installed (use the PyTorch Utils module to install it)")
        else:
            pip_install([f"torch>={MINIMUM_TORCH_VERSION}"])
    if missing:
        pip_install(missing)
    importlib.invalidate_caches()
    still = (["torch"] if importlib.util.find_spec("torch") is None else []) + missing_requirements(requirements)
    if still:
        raise DependencyError("still missing after installation: " + ", ".join(still))
    return True
