#!/usr/bin/env bash
# Python TensorFlow in a virtualenv cached outside the repository, from the same tensorflow-cpu wheel that
# infra/setup-tfjs.sh stages for tfjs-node (its dependencies from PyPI). The SavedModel export test loads our
# exports with it, `npm run bench:train` trains the Keras baseline with it, and the serving tests call `effscale
# serve` over gRPC with TF Serving's own Python client (tensorflow-serving-api, pure Python, installed without its
# dependencies: they are TensorFlow's). Prints the python path on stdout.
set -euo pipefail
TF_VERSION="${TF_VERSION:-2.21.0}"
CACHE="${EFFSCALE_CACHE:-$HOME/.cache/effscale}"
VENV="$CACHE/tf-python-$TF_VERSION"
SERVING_API="tensorflow-serving-api==$TF_VERSION"
ready() { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import tensorflow' >/dev/null 2>&1; }
serving_ready() { "$VENV/bin/python" -c 'import tensorflow_serving.apis.prediction_service_pb2_grpc' >/dev/null 2>&1; }
if ! ready; then
  WHL="$(ls "$CACHE"/tf-wheel/tensorflow_cpu-"$TF_VERSION"-*.whl 2>/dev/null | head -1 || true)"
  [ -n "$WHL" ] || { echo "setup-tf-python: no cached tensorflow-cpu wheel: run infra/setup-tfjs.sh first" >&2; exit 1; }
  echo "setup-tf-python: installing tensorflow-cpu==$TF_VERSION into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --find-links "$CACHE/tf-wheel" "tensorflow-cpu==$TF_VERSION"
  ready || { echo "setup-tf-python: tensorflow does not import in $VENV" >&2; exit 1; }
fi
if ! serving_ready; then
  echo "setup-tf-python: installing $SERVING_API into $VENV" >&2
  "$VENV/bin/pip" install --quiet --no-deps "$SERVING_API"
  serving_ready || { echo "setup-tf-python: tensorflow_serving.apis does not import in $VENV" >&2; exit 1; }
fi
echo "$VENV/bin/python"
