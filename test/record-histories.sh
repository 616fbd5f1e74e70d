#!/usr/bin/env bash
# Records this release's search histories into test/fixtures/histories/<version>/ (package.json's version), which
# test/integration/pipeline/replay.test.ts replays against every later release. A release's histories are never
# re-recorded: the script refuses a directory that exists. Delete it by hand only while the release is unreleased.
set -euo pipefail
cd "$(dirname "$0")/.."
. infra/use-node.sh
version=$(node -p "require('./package.json').version")
dir="test/fixtures/histories/$version"
if [ -e "$dir" ]; then
  echo "record-histories: $dir exists; the histories of release $version are kept as they are" >&2
  exit 1
fi
npm run build --silent
bash infra/setup.sh --for-tests
# The tests that replay and record: basic, crash/retry, cancel, halving, budget stop, repeats + ablation, chunks with
# pause and extension, a finished search extended, and the runs that hand a search to another build.
EFFSCALE_RECORD_HISTORIES=1 node --test --test-concurrency=1 \
  dist/test/integration/pipeline/search.test.js \
  dist/test/integration/pipeline/halving.test.js \
  dist/test/integration/pipeline/selection.test.js \
  dist/test/integration/pipeline/chunks.test.js \
  dist/test/integration/pipeline/control.test.js \
  dist/test/integration/pipeline/upgrade.test.js
echo "record-histories: $(ls "$dir" | wc -l) histories in $dir"
