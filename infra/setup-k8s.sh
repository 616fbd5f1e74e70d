#!/usr/bin/env bash
# Builds kube-apiserver from the Go module proxy (no release downloads reach this machine) and installs etcd
# from Debian. Output is cached under $EFFSCALE_CACHE/k8s-$K8S_VERSION, so later runs take a second.
set -euo pipefail
K8S_VERSION="${K8S_VERSION:-1.34.4}"
CACHE="${EFFSCALE_CACHE:-$HOME/.cache/effscale}"
OUT="$CACHE/k8s-$K8S_VERSION"
BIN="$OUT/bin/kube-apiserver"

if ! command -v etcd >/dev/null; then
  echo "setup-k8s: installing etcd-server from Debian"
  (apt-get install -y etcd-server >/dev/null 2>&1 || (apt-get update >/dev/null && apt-get install -y etcd-server >/dev/null))
fi
if [ -x "$BIN" ]; then echo "setup-k8s: kube-apiserver v$K8S_VERSION cached at $BIN"; exit 0; fi

echo "setup-k8s: building kube-apiserver v$K8S_VERSION from the Go module proxy (cold: ~10 min on 2 cores)"
BUILD="$OUT/build"; mkdir -p "$BUILD" "$OUT/bin"; cd "$BUILD"
[ -f go.mod ] || go mod init local/effscale-k8sbuild >/dev/null 2>&1
STAGING="0.${K8S_VERSION#1.}"
go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" > kube.json
GOMOD="$(python3 -c 'import json,sys; print(json.load(open("kube.json"))["GoMod"])')"
for m in $(grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$GOMOD" | awk '{print $1}'); do
  go mod edit -replace="$m=$m@v$STAGING"
done
go get "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION" >/dev/null
MINOR="${K8S_VERSION#1.}"; MINOR="${MINOR%%.*}"
CGO_ENABLED=0 go build -o "$OUT/bin/" -ldflags "-s -w \
  -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 \
  -X k8s.io/component-base/version.gitMinor=$MINOR -X k8s.io/component-base/version.gitTreeState=clean" \
  k8s.io/kubernetes/cmd/kube-apiserver
echo "setup-k8s: built $BIN"
