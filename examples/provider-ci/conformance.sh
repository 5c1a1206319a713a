#!/usr/bin/env bash
# Gate a staging deploy: run the conformance suite against the staging server.
# Exit 0: conformant. 1: a rule failed (the failing tests name the rules). 3: staging
# unreachable. Reports land in $REPORT_DIR (JSON, JUnit, Markdown, HTML).
set -euo pipefail
: "${MIGMA_CONTRACT_BASE_URL:?set MIGMA_CONTRACT_BASE_URL to the staging server, e.g. https://staging.api.example.test}"
: "${MIGMA_CONTRACT_API_KEY:?set MIGMA_CONTRACT_API_KEY to a full-scope staging key (a CI secret)}"
REPORT_DIR="${REPORT_DIR:-reports}"
mkdir -p "$REPORT_DIR"
REPORT_DIR="$(cd "$REPORT_DIR" && pwd)"  # relative to where the script was called, not to its own directory
cd "$(dirname "$0")"
# testpaths emptied: the suite is the plugin's, whatever test directories an enclosing project names
exec python -m pytest -p no:cacheprovider -q --rootdir . -o testpaths= --migma-conformance \
  --migma-report-dir "$REPORT_DIR" --junitxml "$REPORT_DIR/pytest-junit.xml" \
  --migma-max-requests "${MIGMA_CONTRACT_MAX_REQUESTS:-200}" "$@"
