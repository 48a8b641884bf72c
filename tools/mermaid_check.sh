#!/usr/bin/env bash
# Renders every gallery Mermaid file with the real mermaid (mermaid-cli's
# mmdc, driving a headless Chromium) and fails when one does not parse or
# render. Prints each diagram's size, so an unreadable one shows.
#   PUPPETEER_SKIP_DOWNLOAD=1 npm install --prefix /tmp/viewers @mermaid-js/mermaid-cli
#   tools/mermaid_check.sh /tmp/viewers/node_modules/.bin/mmdc [FILE.mmd...]
set -uo pipefail
mmdc=${1:?usage: mermaid_check.sh MMDC [FILE.mmd...]}
shift
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  files=(reports/*/*.mmd)
fi
chromium=$(command -v chromium || command -v chromium-browser || true)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
config="$out/puppeteer.json"
if [ -n "$chromium" ]; then
  printf '{"executablePath": "%s", "args": ["--no-sandbox", "--disable-gpu"]}\n' "$chromium" > "$config"
else
  printf '{"args": ["--no-sandbox"]}\n' > "$config"
fi
failed=0
for f in "${files[@]}"; do
  svg="$out/$(echo "$f" | tr / _).svg"
  if ! "$mmdc" -q -p "$config" -i "$f" -o "$svg" > "$out/log" 2>&1 || grep -q "Syntax error" "$svg"; then
    failed=$((failed + 1))
    echo "FAIL $f"
    sed 's/^/  /' "$out/log" | head -5
    continue
  fi
  size=$(grep -o 'viewBox="[^"]*"' "$svg" | head -1)
  echo "ok   $f ($size)"
done
echo "$(( ${#files[@]} - failed )) passed, $failed failed"
[ "$failed" -eq 0 ]
