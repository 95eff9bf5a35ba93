#!/usr/bin/env bash
# The Colab path end to end: a fresh virtual environment without aecore runs a notebook whose
# first cell (the bootstrap cell, tools/bootstrap_cell.py) installs aecore, then the rest of it.
#
#   tools/check_bootstrap.sh [NOTEBOOK]      (default notebooks/00_data_tour.ipynb; or: make check-bootstrap)
#
# 1. A new venv in a temporary folder gets what a hosted Jupyter has before a notebook runs: a
#    kernel (ipykernel, nbclient) and, as in Colab, torch and torchvision. Not aecore.
# 2. tools/bootstrap_cell.py --source, run by the checkout's own environment (.venv, as `make`
#    installs it; TOOLS_PYTHON picks another interpreter with aecore), writes a copy of the
#    notebook, outside the checkout, whose bootstrap cell installs aecore from this checkout
#    instead of the repository url in _config.yml (the notebook in notebooks/ is not changed).
#    The copy is executed top to bottom with nbclient in that venv, in the quick profile. Its
#    bootstrap cell finds no aecore and pip-installs it from the checkout: a plain, non-editable
#    install, as from the repository url in Colab. pip builds from a copy of the checkout's files (tracked, and untracked but not
#    ignored), so no build/ folder lands in the checkout. The other dependencies come from the
#    package index; PIP_CONSTRAINT=constraints.txt keeps every version, torch's included, at its pin.
# 3. It checks that the copy's first cell is the bootstrap cell and installs from the checkout,
#    that the cell did install aecore, into the venv, and that the installed copy keeps its data
#    and cache outside site-packages.
#
# Minutes, and a few GB of downloads on the first run (PyTorch): not part of `make test`.
# AECORE_DATA is passed on when set (e.g. a folder with MNIST and Stanford Dogs); unset, the
# notebook downloads its data as on a laptop. AECORE_CACHE defaults to a fresh temporary folder.
# PYTHON picks the interpreter for the venv (default python3). KEEP=1 keeps the temporary folder.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
NOTEBOOK="${1:-notebooks/00_data_tour.ipynb}"
[ -f "$NOTEBOOK" ] || { echo "no notebook at $NOTEBOOK" >&2; exit 2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/aecore-bootstrap.XXXXXX")"
if [ "${KEEP:-0}" = 1 ]; then echo "keeping $WORK"; else trap 'rm -rf "$WORK"' EXIT; fi
start=$(date +%s)
step() { echo "[$(( $(date +%s) - start )) s] $*"; }

step "fresh venv in $WORK/venv"
"${PYTHON:-python3}" -m venv "$WORK/venv"
PY="$WORK/venv/bin/python"
"$PY" -m pip install --quiet --upgrade pip
step "the hosted machine's preinstalled packages: torch, torchvision, a Jupyter kernel"
"$PY" -m pip install --quiet -c constraints.txt torch torchvision ipykernel nbclient
if "$PY" -c "import aecore" 2>/dev/null; then
  echo "FAIL: the fresh venv can already import aecore" >&2; exit 1
fi

mkdir -p "$WORK/run" "$WORK/checkout"
git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | tar --null -T - -cf - | tar -xf - -C "$WORK/checkout"
step "a copy of $(basename "$NOTEBOOK") whose first cell installs aecore from the checkout"
PYTHONPATH="$ROOT" "${TOOLS_PYTHON:-$ROOT/.venv/bin/python}" tools/bootstrap_cell.py --source "$WORK/checkout" --out "$WORK/run" "$NOTEBOOK"
step "executing it in $WORK/run (quick profile)"
PIP_CONSTRAINT="$ROOT/constraints.txt" AECORE_PROFILE=quick AECORE_CACHE="${AECORE_CACHE:-$WORK/cache}" \
  "$PY" - "$WORK/run/$(basename "$NOTEBOOK")" "$WORK/checkout" <<'EOF'
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

path, checkout = Path(sys.argv[1]), sys.argv[2]
notebook = nbformat.read(path, as_version=4)
first = notebook.cells[0]
assert first.get("id") == "colab-bootstrap", "the notebook's first cell is not the bootstrap cell"
assert checkout in first.source and "pip" in first.source, "the copy's first cell does not install from the checkout"
NotebookClient(notebook, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
nbformat.write(notebook, path.with_suffix(".executed.ipynb"))
said = "".join(output.get("text", "") for output in first.outputs)
print("bootstrap cell:", " | ".join(said.splitlines()) or "(no output)")
print(f"all {sum(c.cell_type == 'code' for c in notebook.cells)} code cells ran")
EOF

step "the installed copy"
cd "$WORK/run"  # outside the checkout, whose aecore/ folder would shadow the installed one
env -u AECORE_DATA -u AECORE_CACHE "$PY" - <<'EOF'
import aecore
from aecore import config

print(f"aecore {aecore.__version__} at {aecore.__file__}")
assert "site-packages" in aecore.__file__, "aecore was not installed into the venv"
assert not config.in_checkout()
print(f"defaults outside a checkout: data {config.data_root()}, cache {config.cache_root()}")
EOF
"$PY" -m pip list --format=freeze 2>/dev/null | grep -iE "^(aecore|torch|torchvision|myst-nb|pytorch-msssim)==" | tr '\n' ' '
echo
step "OK"
