#!/usr/bin/env bash
# Fetch Tune's vendored front-end files from the npm registry, at pinned versions.
#
#   static/vendor/fetch.sh           download, check against SHA256SUMS, install
#   static/vendor/fetch.sh --update  download and re-record SHA256SUMS (after a version bump)
#
# Needs npm (only `npm pack`, which downloads the package tarball) and sha256sum.
set -euo pipefail
cd "$(dirname "$0")"

HTMX_VERSION=2.0.11        # htmx.org 2.x
HTMX_SSE_VERSION=2.2.4     # htmx-ext-sse 2.x, for htmx 2

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fetch() {  # package version path-in-package output-name
  local package=$1 version=$2 inner=$3 output=$4
  (cd "$work" && npm pack --silent "$package@$version" >/dev/null)
  mkdir -p "$work/$package"
  tar -xzf "$work/$package-$version.tgz" -C "$work/$package"
  cp "$work/$package/package/$inner" "$work/$output"
}

fetch htmx.org "$HTMX_VERSION" dist/htmx.min.js htmx.min.js
fetch htmx-ext-sse "$HTMX_SSE_VERSION" dist/sse.min.js sse.min.js

if [[ "${1:-}" == "--update" ]]; then
  (cd "$work" && sha256sum htmx.min.js sse.min.js) > SHA256SUMS
else
  (cd "$work" && sha256sum --check --strict "$OLDPWD/SHA256SUMS")
fi
cp "$work/htmx.min.js" "$work/sse.min.js" .
echo "htmx.org $HTMX_VERSION and htmx-ext-sse $HTMX_SSE_VERSION installed in static/vendor/"
