#!/usr/bin/env bash
# Provisions a real Temporal server for the production-Temporal test (test/integration/pipeline/temporal-server.ts),
# from package registries only:
#   Go module proxy: temporal-server (go.temporal.io/server/cmd/server) and temporal-sql-tool (cmd/tools/sql) at
#                    v$TEMPORAL_SERVER_VERSION; the tool embeds the module's schemas (--schema-name postgresql/v12/…)
#   Debian:          PostgreSQL (initdb, pg_ctl, psql), the store the server persists to
# Output: $EFFSCALE_CACHE/temporal-server-$TEMPORAL_SERVER_VERSION/bin. Cold: 6-12 min on 2 cores (the longer
# with an empty Go build cache); warm: one line. The version is the one the Temporal CLI's dev server embeds
# (infra/setup-temporal.sh), so the test differs from the others in deployment only.
set -euo pipefail
TEMPORAL_SERVER_VERSION="${TEMPORAL_SERVER_VERSION:-1.32.0}"
CACHE="${EFFSCALE_CACHE:-$HOME/.cache/effscale}"
OUT="$CACHE/temporal-server-$TEMPORAL_SERVER_VERSION"

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "setup-temporal-server: installing postgresql from Debian"
  # Debian starts a cluster as a service on install; the test runs its own in a temp dir on a free port.
  export DEBIAN_FRONTEND=noninteractive
  (apt-get install -y postgresql >/dev/null 2>&1 || (apt-get update >/dev/null && apt-get install -y postgresql >/dev/null))
fi
if [ -x "$OUT/bin/temporal-server" ] && [ -x "$OUT/bin/temporal-sql-tool" ]; then
  echo "setup-temporal-server: temporal-server v$TEMPORAL_SERVER_VERSION cached in $OUT"
  exit 0
fi

echo "setup-temporal-server: building temporal-server v$TEMPORAL_SERVER_VERSION from the Go module proxy (cold: 6-12 min on 2 cores)"
start=$SECONDS
# Everything is built into a staging dir then renamed: an interrupted build never leaves a half-filled cache.
STAGE="$OUT.build"
rm -rf "$STAGE"; mkdir -p "$STAGE/bin"
# The module has no replace directives, so `go install pkg@version` builds it with exactly its own go.sum.
GOBIN="$STAGE/bin" CGO_ENABLED=0 go install -ldflags "-s -w" "go.temporal.io/server/cmd/server@v$TEMPORAL_SERVER_VERSION" \
  "go.temporal.io/server/cmd/tools/sql@v$TEMPORAL_SERVER_VERSION"
mv "$STAGE/bin/server" "$STAGE/bin/temporal-server"
mv "$STAGE/bin/sql" "$STAGE/bin/temporal-sql-tool"
rm -rf "$OUT"; mv "$STAGE" "$OUT"
echo "setup-temporal-server: built $OUT in $((SECONDS - start)) s"
