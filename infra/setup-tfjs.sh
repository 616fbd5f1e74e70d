#!/usr/bin/env bash
# Provisions the native TensorFlow backend of tfjs-node (`cpu`, the default) or tfjs-node-gpu (`gpu`) without their
# install-time download (which cannot reach its host here), from PyPI wheels. A TensorFlow wheel holds
# libtensorflow_cc.so.2 with the full C API: we stage its two libraries and headers into the package's deps/ and
# let the package's own install script build the addon.
#   cpu  the tensorflow-cpu wheel, into @tensorflow/tfjs-node.
#   gpu  the tensorflow wheel (built for CUDA 12), into @tensorflow/tfjs-node-gpu, plus the nvidia-*-cu12 wheels its
#        METADATA requires for the `and-cuda` extra, unpacked with their site-packages layout into the cache and
#        linked as deps/nvidia: TensorFlow dlopens the CUDA libraries through RUNPATHs relative to the wheel layout
#        ($ORIGIN/../nvidia/<lib>/lib), so they are found with no LD_LIBRARY_PATH. A check then loads every CUDA
#        library the build needs, the way TensorFlow does (infra/tfjs-deps.py check-cuda). Runs on a machine without
#        a GPU: TensorFlow then finds no driver and computes on the CPU.
# Idempotent; wheels and the CUDA tree are cached outside the repository, keyed by version. See docs/trainer.md (GPU)
# and ../shared/reference/tfjs-node-offline.md.
# Usage: infra/setup-tfjs.sh [cpu|gpu]
set -euo pipefail
VARIANT="${1:-cpu}"
TF_VERSION="${TF_VERSION:-2.21.0}"
ROOT="${EFFSCALE_CACHE:-$HOME/.cache/effscale}"
CACHE="$ROOT/tf-wheel"
HELPER="$(dirname "$0")/tfjs-deps.py"
# Any cpXY tag works (only libraries are used); the platforms are those of the TensorFlow and nvidia wheels.
PIP=(python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11
  --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
case "$VARIANT" in
  cpu) PKG=node_modules/@tensorflow/tfjs-node DIST=tensorflow-cpu SIZE="274 MB" ;;
  gpu) PKG=node_modules/@tensorflow/tfjs-node-gpu DIST=tensorflow SIZE="572 MB" CUDA="$ROOT/tf-gpu-$TF_VERSION" ;;
  *) echo "usage: infra/setup-tfjs.sh [cpu|gpu]" >&2; exit 2 ;;
esac
[ -d "$PKG" ] || { echo "setup-tfjs: $PKG is missing: run npm ci --ignore-scripts first" >&2; exit 1; }

# tfjs-node(-gpu) 4.22.0, the last release, calls util.isNullOrUndefined, which Node.js 23 removed (every op then
# throws "util_1.isNullOrUndefined is not a function"), and util.isArray, deprecated. The fix is upstream
# (tensorflow/tfjs#8425) but has never been released (tensorflow/tfjs#8609), so its replacements are made here in
# the compiled files: `value == null` and `Array.isArray`. Idempotent; after an `npm ci` it is simply done again.
{ grep -rlE --include='*.js' 'util_1\.(isNullOrUndefined|isArray)\)' "$PKG/dist" || true; } | xargs -r sed -i -E \
  -e 's/\(0, util_1\.isNullOrUndefined\)/((value) => value == null)/g' -e 's/\(0, util_1\.isArray\)/Array.isArray/g'

# Ready: the addon loads the wanted TensorFlow and computes (and, for gpu, deps/nvidia leads to a complete CUDA tree).
loads() {
  node -e "const tf=require('./$PKG');if(tf.backend().binding.TF_Version!=='$TF_VERSION'||
    tf.add(tf.scalar(2),tf.scalar(3)).dataSync()[0]!==5)process.exit(1)" 2>/dev/null &&
    { [ "$VARIANT" = cpu ] || [ -f "$PKG/deps/nvidia/wheels.txt" ]; }
}
# The addon is built against the headers of the `node` on PATH (infra/setup.sh puts the one of .nvmrc there) and
# records that version in deps/node-version: an N-API addon built for another Node.js would still load, so a change
# of Node.js is caught here, and rebuilds it.
NODE_VERSION="$(node --version)"
built_for_node() { [ "$(cat "$PKG/deps/node-version" 2>/dev/null)" = "$NODE_VERSION" ]; }
if built_for_node && loads; then echo "setup-tfjs: native TensorFlow $TF_VERSION ready ($PKG)"; exit 0; fi

WHL="$(ls "$CACHE/${DIST//-/_}-$TF_VERSION"-*.whl 2>/dev/null | head -1 || true)"
if [ -z "$WHL" ]; then
  echo "setup-tfjs: downloading $DIST==$TF_VERSION from PyPI ($SIZE, cached in $CACHE)"
  "${PIP[@]}" -d "$CACHE" "$DIST==$TF_VERSION"
  WHL="$(ls "$CACHE/${DIST//-/_}-$TF_VERSION"-*.whl | head -1)"
fi

# gpu: the CUDA 12 user-space libraries, once per TensorFlow version. nvidia/wheels.txt (the resolved wheels) is
# written last and the tree moved into place whole, so its presence means complete.
if [ "$VARIANT" = gpu ] && [ ! -f "$CUDA/nvidia/wheels.txt" ]; then
  echo "setup-tfjs: downloading the CUDA libraries $DIST==${TF_VERSION}[and-cuda] requires (2.7 GB; unpacked 4.2 GB" \
    "in $CUDA)"
  rm -rf "$CUDA/wheels" "$CUDA/partial"; mkdir -p "$CUDA/wheels"
  python3 "$HELPER" cuda-requirements "$WHL" >"$CUDA/requirements.txt"
  "${PIP[@]}" -d "$CUDA/wheels" -r "$CUDA/requirements.txt"
  python3 "$HELPER" unpack-cuda "$CUDA/partial" "$CUDA"/wheels/nvidia_*.whl
  (cd "$CUDA/wheels" && ls nvidia_*.whl) >"$CUDA/partial/nvidia/wheels.txt"
  rm -rf "$CUDA/nvidia"; mv "$CUDA/partial/nvidia" "$CUDA/nvidia"
  rm -rf "$CUDA/partial" "$CUDA/wheels"
fi

PIN="$(node -p "require('./$PKG/scripts/deps-constants.js').LIBTENSORFLOW_VERSION")"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
python3 "$HELPER" extract "$WHL" "$TMP"
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
if [ "$VARIANT" = gpu ]; then
  ln -sfn "$CUDA/nvidia" "$PKG/deps/nvidia"
  python3 "$HELPER" complete-runpath "$PKG/deps"
fi
# node-gyp downloads Node headers unless told where the local ones are. No `download` argument: install.js then
# builds against the staged deps/ (tfjs-node-gpu's own install script passes it and would fetch libtensorflow 2.9.1).
NODEDIR="$(dirname "$(dirname "$(command -v node)")")"
[ -f "$NODEDIR/include/node/node_api.h" ] || { echo "setup-tfjs: Node headers not found under $NODEDIR/include/node" >&2; exit 1; }
# node-pre-gyp keeps an addon it finds, so drop the last build (lib/ and build-tmp-*/ are made only by it).
rm -rf "${PKG:?}/lib" "${PKG:?}"/build-tmp-*
(cd "$PKG" && npm_config_nodedir="$NODEDIR" PATH="$PWD/../../.bin:$PATH" node scripts/install.js "$VARIANT" >/dev/null)
loads || { echo "setup-tfjs: the addon was built but does not load TensorFlow $TF_VERSION ($PKG)" >&2; exit 1; }
echo "$NODE_VERSION" >"$PKG/deps/node-version"
if [ "$VARIANT" = gpu ]; then python3 "$HELPER" check-cuda "$PKG/deps"; fi
echo "setup-tfjs: native TensorFlow $TF_VERSION ready ($PKG)"
