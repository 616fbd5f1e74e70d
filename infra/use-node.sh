# shellcheck shell=sh
# Sourced from the repository root, by the npm scripts (`. infra/use-node.sh && …`), infra/setup.sh and .ci/run, or
# by hand before running `node`/`npx effscale` directly: puts the Node.js of record (.nvmrc) first on PATH,
# provisioning it from the npm registry where this machine lacks it (infra/setup-node.sh). POSIX sh.
effscale_node_bin="$(bash infra/setup-node.sh)" || return 1
[ "$(command -v node)" = "$effscale_node_bin/node" ] || PATH="$effscale_node_bin:$PATH"
export PATH
unset effscale_node_bin
