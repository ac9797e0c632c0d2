#!/usr/bin/env bash
# Render a voucher sheet made by `radgate token print` to a PNG with headless
# Chromium, to look at the layout the way a printer would get it.
#
#   scripts/render-vouchers.sh vouchers.html [out.png] [WIDTH,HEIGHT]
#
# The default window is 1240x1754 (A4 at 150 dpi); pass a taller one, e.g.
# 1240,3600, to see more than the first page. Without Chromium it prints a
# message and exits 0 (install it with: apt-get install -y chromium).
# With PDF=1 it also prints the sheet to out.pdf (chromium --print-to-pdf).
set -euo pipefail

html=${1:?usage: $0 vouchers.html [out.png] [WIDTH,HEIGHT]}
png=${2:-${html%.*}.png}
size=${3:-1240,1754}

browser=""
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then browser=$b; break; fi
done
if [ -z "$browser" ]; then
  echo "render-vouchers: chromium not found; skipping the render (apt-get install -y chromium)" >&2
  exit 0
fi
[ -f "$html" ] || { echo "render-vouchers: no such file: $html" >&2; exit 2; }

abs=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --hide-scrollbars --user-data-dir="$profile")

"$browser" "${flags[@]}" --screenshot="$png" --window-size="$size" "file://$abs" \
  >/dev/null 2>&1
echo "render-vouchers: wrote $png"
if [ "${PDF:-0}" = 1 ]; then
  pdf=${png%.*}.pdf
  "$browser" "${flags[@]}" --no-pdf-header-footer --print-to-pdf="$pdf" "file://$abs" \
    >/dev/null 2>&1
  echo "render-vouchers: wrote $pdf"
fi
