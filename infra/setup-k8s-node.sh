#!/usr/bin/env bash
# Provisions a real single node for the k8s tests (test/k8s/node.ts), from package registries only:
#   Debian: containerd, runc, the CNI plugins (/usr/lib/cni), buildah (local images; no image registry is
#           reachable), debootstrap (the Debian root filesystem of the local stand-in for the node base image the
#           Dockerfiles build on, test/k8s/images.ts), etcd, openssl, iptables, iproute2
#   Go module proxy: kubelet, kube-controller-manager, kube-scheduler and kubectl v$K8S_VERSION, built by
#           infra/setup-k8s.sh next to kube-apiserver in $EFFSCALE_CACHE/k8s-$K8S_VERSION/bin
# Idempotent; once everything is installed and cached a run takes a second or two.
set -euo pipefail
cd "$(dirname "$0")"
PACKAGES=(containerd runc containernetworking-plugins buildah debootstrap openssl iptables iproute2)
MISSING=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || MISSING+=("$p")
done
if [ ${#MISSING[@]} -gt 0 ]; then
  echo "setup-k8s-node: installing ${MISSING[*]} from Debian"
  # Debian starts containerd as a service on install; the tests run their own, so keep it off where possible.
  export DEBIAN_FRONTEND=noninteractive
  (apt-get install -y "${MISSING[@]}" >/dev/null 2>&1 ||
    (apt-get update >/dev/null && apt-get install -y "${MISSING[@]}" >/dev/null))
fi
bash ./setup-k8s.sh kube-apiserver kubelet kube-controller-manager kube-scheduler kubectl
