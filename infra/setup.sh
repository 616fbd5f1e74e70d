#!/usr/bin/env bash
# `npm run setup`: provisions everything effscale needs on a fresh machine, idempotently, from package registries
# only. Heavy artifacts are cached in $EFFSCALE_CACHE (default ~/.cache/effscale), keyed by version.
#   infra/setup.sh             Node.js (.nvmrc), JS deps, native TensorFlow (CPU build), Temporal CLI, Fashion-MNIST,
#                              build
#   infra/setup.sh --gpu       also the GPU build of native TensorFlow for EFFSCALE_TFJS=gpu: tfjs-node-gpu on the
#                              tensorflow wheel with CUDA 12 from nvidia-*-cu12 wheels (3.3 GB of downloads, once)
#   infra/setup.sh --for-tests also what only the tests use: Chromium (report tests), nginx (TLS test), photos
#                              (gnome-backgrounds and python3-pil, input-pipeline tests), a real Kubernetes node (etcd,
#                              containerd, runc, CNI plugins, buildah from Debian; kube-apiserver, kubelet,
#                              controller-manager, scheduler, kubectl built from the Go module proxy), a real
#                              temporal-server (built from the Go module proxy) on PostgreSQL (Debian) for the
#                              production-Temporal test, Python TensorFlow (export test), and the GPU build (its
#                              test proves it loads and trains here, on the CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
# Everything below (npm ci, the addon builds, tsc) runs on the Node.js of record (.nvmrc), provisioned if missing.
. infra/use-node.sh
FOR_TESTS=0 GPU=0
for arg in "$@"; do
  case "$arg" in
    --for-tests) FOR_TESTS=1 GPU=1 ;;
    --gpu) GPU=1 ;;
    *) echo "usage: infra/setup.sh [--gpu] [--for-tests]" >&2; exit 2 ;;
  esac
done
# The tests hold the repository to one Node.js: package.json, the Dockerfiles and the docs agree with .nvmrc.
if [ "$FOR_TESTS" = 1 ]; then bash infra/setup-node.sh --check; fi

# npm ci runs dependencies' install scripts; tfjs-node's would download libtensorflow and fail, so skip them all
# and run the ones we need explicitly below.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing JS dependencies"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
fi
bash infra/setup-tfjs.sh
if [ "$GPU" = 1 ]; then bash infra/setup-tfjs.sh gpu; fi
bash infra/setup-temporal.sh >/dev/null
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "setup: installing dataset-fashion-mnist from Debian"
  apt-get install -y dataset-fashion-mnist >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y dataset-fashion-mnist >/dev/null; }
fi
# nginx: the TLS, mTLS and API-key front of a dev server in the production-Temporal test.
if [ "$FOR_TESTS" = 1 ] && [ ! -x /usr/sbin/nginx ]; then
  echo "setup: installing nginx-light from Debian (a TLS front for the production-Temporal test)"
  apt-get install -y nginx-light >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y nginx-light >/dev/null; }
fi
if [ "$FOR_TESTS" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  echo "setup: installing chromium from Debian (headless browser for the report tests)"
  apt-get install -y chromium >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }
fi
# Real photos for the input-pipeline tests and `npm run bench:input`: crops of the wallpapers gnome-backgrounds
# ships, cut and re-encoded by bench/make-image-folder.py with Pillow.
if [ "$FOR_TESTS" = 1 ] && { [ ! -d /usr/share/backgrounds/gnome ] || ! /usr/bin/python3 -c 'import PIL' 2>/dev/null; }; then
  echo "setup: installing gnome-backgrounds and python3-pil from Debian (photos for the input-pipeline tests)"
  apt-get install -y gnome-backgrounds python3-pil >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y gnome-backgrounds python3-pil >/dev/null; }
fi
if [ "$FOR_TESTS" = 1 ]; then bash infra/setup-k8s-node.sh; fi
# A real temporal-server on PostgreSQL over mTLS (test/integration/pipeline/temporal-server.test.ts); cached.
if [ "$FOR_TESTS" = 1 ]; then bash infra/setup-temporal-server.sh; fi
# Python TensorFlow: the SavedModel export test loads our exports with it.
if [ "$FOR_TESTS" = 1 ]; then bash infra/setup-tf-python.sh >/dev/null; fi
npx tsc -p tsconfig.json
