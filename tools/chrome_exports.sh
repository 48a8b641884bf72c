#!/usr/bin/env bash
# Writes the Chrome trace of every scenario in sim-scenarios/ (every variant,
# one process each) to DIR/NAME.chrome.json, with the given loopsim binary.
#   tools/chrome_exports.sh target/release/loopsim target/chrome
set -euo pipefail
bin=${1:?usage: chrome_exports.sh LOOPSIM DIR}
dir=${2:?usage: chrome_exports.sh LOOPSIM DIR}
mkdir -p "$dir"
for f in sim-scenarios/*.toml; do
  name=$(basename "$f" .toml)
  "$bin" run "$f" --format chrome > "$dir/$name.chrome.json"
done
