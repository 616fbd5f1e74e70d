#!/usr/bin/env bash
# Builds Kubernetes commands from the Go module proxy (no release downloads reach this machine) and installs etcd
# from Debian. Output is cached under $EFFSCALE_CACHE/k8s-$K8S_VERSION/bin, so later runs take a second.
#   infra/setup-k8s.sh                  kube-apiserver (the control plane of the k8s tests)
#   infra/setup-k8s.sh CMD...           the named commands of k8s.io/kubernetes/cmd (infra/setup-k8s-node.sh)
# All commands are built in one wrapper module: k8s.io/kubernetes is not meant to be a dependency, so its staging
# modules (k8s.io/api, …) are pinned with replace directives to their v0.MINOR.PATCH tags, as its go.mod does.
set -euo pipefail
K8S_VERSION="${K8S_VERSION:-1.34.4}"
CACHE="${EFFSCALE_CACHE:-$HOME/.cache/effscale}"
OUT="$CACHE/k8s-$K8S_VERSION"
COMMANDS=("$@")
[ ${#COMMANDS[@]} -gt 0 ] || COMMANDS=(kube-apiserver)

if ! command -v etcd >/dev/null; then
  echo "setup-k8s: installing etcd-server from Debian"
  (apt-get install -y etcd-server >/dev/null 2>&1 || (apt-get update >/dev/null && apt-get install -y etcd-server >/dev/null))
fi
MISSING=()
for c in "${COMMANDS[@]}"; do [ -x "$OUT/bin/$c" ] || MISSING+=("$c"); done
if [ ${#MISSING[@]} -eq 0 ]; then echo "setup-k8s: ${COMMANDS[*]} v$K8S_VERSION cached in $OUT/bin"; exit 0; fi

echo "setup-k8s: building ${MISSING[*]} v$K8S_VERSION from the Go module proxy (cold: ~3-10 min each on 2 cores)"
BUILD="$OUT/build"; mkdir -p "$BUILD" "$OUT/bin"; cd "$BUILD"
[ -f go.mod ] || go mod init local/effscale-k8sbuild >/dev/null 2>&1
STAGING="0.${K8S_VERSION#1.}"
go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" > kube.json
GOMOD="$(python3 -c 'import json,sys; print(json.load(open("kube.json"))["GoMod"])')"
for m in $(grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$GOMOD" | awk '{print $1}'); do
  go mod edit -replace="$m=$m@v$STAGING"
done
PKGS=()
for c in "${MISSING[@]}"; do PKGS+=("k8s.io/kubernetes/cmd/$c"); done
go get "${PKGS[@]/%/@v$K8S_VERSION}" >/dev/null
MINOR="${K8S_VERSION#1.}"; MINOR="${MINOR%%.*}"
LDFLAGS="-s -w"
for v in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS="$LDFLAGS -X $v.gitVersion=v$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$MINOR -X $v.gitTreeState=clean"
done
# One package per go build, into a staging dir then renamed: an interrupted build never leaves a cached binary.
mkdir -p "$BUILD/out"
for c in "${MISSING[@]}"; do
  start=$SECONDS
  CGO_ENABLED=0 go build -o "$BUILD/out/$c" -ldflags "$LDFLAGS" "k8s.io/kubernetes/cmd/$c"
  mv "$BUILD/out/$c" "$OUT/bin/$c"
  echo "setup-k8s: built $OUT/bin/$c in $((SECONDS - start)) s"
done
