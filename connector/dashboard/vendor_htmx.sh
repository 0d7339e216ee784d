#!/bin/sh
# Vendor htmx from the npm registry into static/ (run at build time; the result is committed, so installs need no npm).
# Usage: connector/dashboard/vendor_htmx.sh [version]   (default: the 2.x line the dashboard is tested with)
set -eu
version="${1:-2.0.11}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm install --no-audit --no-fund --silent "htmx.org@$version")
installed="$(node -p "require('$work/node_modules/htmx.org/package.json').version")"
{
  printf '/* htmx %s, vendored from the npm registry (htmx.org, BSD-2-Clause) by connector/dashboard/vendor_htmx.sh */\n' "$installed"
  cat "$work/node_modules/htmx.org/dist/htmx.min.js"
} > "$here/static/htmx.min.js"
echo "vendored htmx $installed into $here/static/htmx.min.js"
