#!/usr/bin/env bash
# Regenerates docs/demo-report.png: a fresh `preflight demo --quick`, then its drill report rendered by headless
# Chromium (Debian's `chromium`). Run from the repository's folder.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
swift run -c release preflight demo --quick --out "$out/reports"
report=$(ls -d "$out"/reports/rto-rpo-recovery-*/ | head -1)
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1100,1500 \
  --screenshot="$PWD/docs/demo-report.png" "file://${report}report.html" 2>/dev/null
echo "wrote docs/demo-report.png from ${report}report.html"
