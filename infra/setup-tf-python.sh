#!/usr/bin/env bash
# Python TensorFlow in a virtualenv cached outside the repository, from the same tensorflow-cpu wheel that
# infra/setup-tfjs.sh stages for tfjs-node (its dependencies from PyPI). The SavedModel export test loads our
# exports with it, and `npm run bench:train` trains the Keras baseline with it. Prints the python path on stdout.
set -euo pipefail
TF_VERSION="${TF_VERSION:-2.21.0}"
CACHE="${EFFSCALE_CACHE:-$HOME/.cache/effscale}"
VENV="$CACHE/tf-python-$TF_VERSION"
ready() { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import tensorflow' >/dev/null 2>&1; }
if ! ready; then
  WHL="$(ls "$CACHE"/tf-wheel/tensorflow_cpu-"$TF_VERSION"-*.whl 2>/dev/null | head -1 || true)"
  [ -n "$WHL" ] || { echo "setup-tf-python: no cached tensorflow-cpu wheel: run infra/setup-tfjs.sh first" >&2; exit 1; }
  echo "setup-tf-python: installing tensorflow-cpu==$TF_VERSION into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --find-links "$CACHE/tf-wheel" "tensorflow-cpu==$TF_VERSION"
  ready || { echo "setup-tf-python: tensorflow does not import in $VENV" >&2; exit 1; }
fi
echo "$VENV/bin/python"
