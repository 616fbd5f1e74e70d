#!/usr/bin/env bash
# Provisions the native TensorFlow backend of tfjs-node without its install-time download (which cannot reach its
# host here): the tensorflow-cpu wheel from PyPI holds libtensorflow_cc.so.2 with the full C API. We stage its two
# libraries and headers into tfjs-node's deps/ and let tfjs-node's own install script build the addon.
# Idempotent; the wheel is cached outside the repository. See ../shared/reference/tfjs-node-offline.md.
set -euo pipefail
TF_VERSION="${TF_VERSION:-2.21.0}"
CACHE="${EFFSCALE_CACHE:-$HOME/.cache/effscale}/tf-wheel"
PKG="node_modules/@tensorflow/tfjs-node"
[ -d "$PKG" ] || { echo "setup-tfjs: $PKG is missing: run npm ci --ignore-scripts first" >&2; exit 1; }

loads() { node -e "const tf=require('./$PKG');if(tf.backend().binding.TF_Version!=='$TF_VERSION')process.exit(1)" 2>/dev/null; }
if loads; then echo "setup-tfjs: native TensorFlow $TF_VERSION ready"; exit 0; fi

WHL="$(ls "$CACHE"/tensorflow_cpu-"$TF_VERSION"-*.whl 2>/dev/null | head -1 || true)"
if [ -z "$WHL" ]; then
  echo "setup-tfjs: downloading tensorflow-cpu==$TF_VERSION from PyPI (274 MB, cached in $CACHE)"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_27_x86_64 -d "$CACHE" "tensorflow-cpu==$TF_VERSION"
  WHL="$(ls "$CACHE"/tensorflow_cpu-"$TF_VERSION"-*.whl | head -1)"
fi

PIN="$(node -p "require('./$PKG/scripts/deps-constants.js').LIBTENSORFLOW_VERSION")"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
python3 - "$WHL" "$TMP" <<'PY'
import sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
inc = ('tensorflow/include/tensorflow/c/', 'tensorflow/include/tensorflow/core/platform/',
       'tensorflow/include/tensorflow/tsl/', 'tensorflow/include/tsl/', 'tensorflow/include/xla/tsl/')
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        if n in ('tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2') \
           or (n.startswith(inc) and n.endswith('.h')):
            z.extract(n, out)
PY
rm -rf "$PKG/deps"; mkdir -p "$PKG/deps/lib" "$PKG/deps/include"
mv "$TMP"/tensorflow/libtensorflow_cc.so.2 "$TMP"/tensorflow/libtensorflow_framework.so.2 "$PKG/deps/lib/"
cp -r "$TMP/tensorflow/include/." "$PKG/deps/include/"
(
  cd "$PKG/deps/lib"
  ln -sf libtensorflow_cc.so.2 libtensorflow.so
  ln -sf libtensorflow_framework.so.2 libtensorflow_framework.so
  ln -sf libtensorflow_cc.so.2 "libtensorflow.so.$PIN"
  ln -sf libtensorflow_framework.so.2 "libtensorflow_framework.so.$PIN"
)
# node-gyp downloads Node headers unless told where the local ones are.
NODEDIR="$(dirname "$(dirname "$(command -v node)")")"
[ -f "$NODEDIR/include/node/node_api.h" ] || { echo "setup-tfjs: Node headers not found under $NODEDIR/include/node" >&2; exit 1; }
(cd "$PKG" && npm_config_nodedir="$NODEDIR" PATH="$PWD/../../.bin:$PATH" node scripts/install.js >/dev/null)
loads || { echo "setup-tfjs: the addon was built but does not load TensorFlow $TF_VERSION" >&2; exit 1; }
echo "setup-tfjs: native TensorFlow $TF_VERSION ready"
