#!/usr/bin/env bash
# Install the MONAI Label server (monailabel 0.8.5) into an environment that already holds this project (torch, MONAI,
# SimpleITK, pydicom...). Idempotent: re-running it changes nothing.
#
#   bash monailabel_app/install.sh [PYTHON]     # default: the `python` on PATH (e.g. an activated .venv)
#
# Why not `pip install monailabel`: its requirements replace the CPU torch with a CUDA build and add torchvision
# (several GB). monailabel and pydicom-seg are installed with --no-deps, then the server's own dependencies, none of
# which depends on torch. pip then reports monailabel / pydicom-seg requirements it leaves out on purpose (sam2,
# shapely, numpy<2 ...): the server does not use them. pydicom-seg 0.4.1 imports a module that pydicom 3 removed:
# rfr_inpaint_pydicom3_alias.py (beside this script) provides it, installed with a .pth line, so pydicom stays as the
# project has it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PYTHON="${1:-python}"
torch_before=$("$PYTHON" -c "import torch; print(torch.__version__)")

"$PYTHON" -m pip install -q --no-deps "monailabel==0.8.5" "pydicom-seg==0.4.1"
# the server's runtime dependencies (monailabel's requirement list less torch, torchvision, MONAI and the imaging
# packages the project already installs); "jsonschema<4" is what pydicom-seg 0.4.1 accepts
"$PYTHON" -m pip install -q \
    fastapi uvicorn pydantic pydantic-settings python-dotenv python-multipart httpx schedule dicomweb-client \
    timeloop expiringdict expiring_dict cachetools watchdog pynrrd pyjwt passlib bcrypt requests requests-toolbelt \
    psutil filelock pyyaml google-auth girder-client "jsonschema<4"

site=$("$PYTHON" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
cp "$here/rfr_inpaint_pydicom3_alias.py" "$site/rfr_inpaint_pydicom3_alias.py"
echo "import rfr_inpaint_pydicom3_alias" > "$site/rfr_inpaint_pydicom3_alias.pth"

"$PYTHON" - "$torch_before" <<'PY'
import importlib.util
import sys

import torch

if torch.__version__ != sys.argv[1]:
    sys.exit(f"monailabel_app/install.sh: torch changed from {sys.argv[1]} to {torch.__version__}")
if importlib.util.find_spec("torchvision") is not None:
    sys.exit("monailabel_app/install.sh: torchvision got installed; this project never depends on it")
import monailabel.app  # noqa: F401,E402 - the server's module, pydicom-seg included, imports
PY
echo "monailabel installed; torch ${torch_before} kept, no torchvision"
