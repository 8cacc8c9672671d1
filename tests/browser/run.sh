#!/bin/sh
# Browser test of a woven page: headless Chromium renders it from file:// and we check that it
# really rendered: KaTeX produced its markup (class="katex", body data-math="rendered"), every
# figure loaded (body data-figures="N/N", N >= 1, no img data-loaded="no"), no script error in
# the console ("Uncaught"), and the screenshot is a non-trivial PNG of the window's size.
# Usage: tests/browser/run.sh [ALIGNLAB [OUTDIR]]
#   ALIGNLAB: the alignlab executable (default $ALIGNLAB_SHELL, else build/alignlab)
#   OUTDIR:   where the page, DOM dump, console log and screenshot go (default: a temp dir)
# Exit status: 0 pass, 1 fail, 77 skipped (chromium not installed: `scripts/deps.sh
# --with-test-browser` or apt-get install chromium).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shell=${1:-${ALIGNLAB_SHELL:-$root/build/alignlab}}
out=${2:-}

browser=""
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then browser=$b; break; fi
done
if [ -z "$browser" ]; then
  echo "SKIP: browser test: chromium is not installed (apt-get install chromium, or scripts/deps.sh --with-test-browser)"
  exit 77
fi
[ -x "$shell" ] || { echo "FAIL: no alignlab executable at $shell"; exit 1; }

tmp=$(mktemp -d)
profile=$(mktemp -d)
trap 'rm -rf "$profile"; [ -z "$out" ] && rm -rf "$tmp"' EXIT
[ -n "$out" ] && { mkdir -p "$out"; tmp=$out; }

flags="--headless --no-sandbox --disable-gpu --disable-background-networking \
--disable-component-update --disable-sync --no-first-run --disable-extensions \
--disable-default-apps --mute-audio --hide-scrollbars --user-data-dir=$profile \
--enable-logging=stderr --v=0 --virtual-time-budget=10000"
W=900
H=1600
fail=0
check() { # check MESSAGE COMMAND...
  msg=$1; shift
  if "$@"; then echo "ok: $msg"; else echo "FAIL: $msg"; fail=1; fi
}

# check_page NAME PAGE: render PAGE from file://, dump its DOM and a screenshot NAME.png
check_page() {
  name=$1 page=$2
  dom="$tmp/$name.dom.html"
  # shellcheck disable=SC2086
  timeout 120 "$browser" $flags --dump-dom "file://$page" >"$dom" 2>"$tmp/$name.console-dom.log"
  # shellcheck disable=SC2086
  timeout 120 "$browser" $flags --window-size=$W,$H --screenshot="$tmp/$name.png" "file://$page" \
    >/dev/null 2>"$tmp/$name.console-shot.log"
  echo "-- $name ($page)"
  check "the DOM was dumped" test -s "$dom"
  if [ "${3:-math}" = math ]; then
    check "KaTeX rendered the equations (class=\"katex\")" grep -q 'class="katex"' "$dom"
    check "no equation failed (body data-math=\"rendered\")" grep -q 'data-math="rendered"' "$dom"
    check "no KaTeX parse error (class=\"katex-error\")" sh -c "! grep -q 'class=.katex-error' '$dom'"
    check "no raw \$\$ left in the page" sh -c "! grep -q '[$][$]' '$dom'"
  fi
  nfig=$(sed -n 's/.*data-figures="\([0-9]*\)\/\([0-9]*\)".*/\1 \2/p' "$dom" | head -1)
  loaded=${nfig% *}
  total=${nfig#* }
  check "figures loaded ($nfig)" test -n "$nfig" -a "${loaded:-0}" -ge 1 -a "${loaded:-0}" = "${total:-x}"
  check "no image failed to load" sh -c "! grep -q 'data-loaded=\"no\"' '$dom'"
  check "no block failed" sh -c "! grep -q 'class=\"cell failed\"' '$dom'"
  check "no script errors in the console" sh -c "! grep -qi 'uncaught' '$tmp/$name.console-dom.log' '$tmp/$name.console-shot.log'"
  check "the screenshot exists" test -s "$tmp/$name.png"
  if [ -s "$tmp/$name.png" ]; then
    sig=$(od -An -tx1 -N8 "$tmp/$name.png" | tr -d ' \n')
    dims=$(od -An -tu1 -j16 -N8 "$tmp/$name.png" | awk '{print $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8}')
    size=$(wc -c <"$tmp/$name.png")
    check "the screenshot is a PNG" test "$sig" = "89504e470d0a1a0a"
    check "the screenshot is ${W}x${H} (got $dims)" test "$dims" = "$W $H"
    check "the screenshot is not blank ($size bytes)" test "$size" -gt 30000
  fi
}

page="$tmp/basic.html"
if ! "$shell" weave "$root/tests/weave/basic.md" -o "$page" --quiet; then
  echo "FAIL: weaving tests/weave/basic.md failed"; exit 1
fi
check_page basic "$page"
cp "$tmp/basic.png" "$tmp/shot.png" 2>/dev/null

# The course: the index and one note of notebooks/, woven by --all at the smoke budget (tiny
# shared models in a temporary cache) from a copy holding index.md and two notes.
course="$tmp/course"
mkdir -p "$course/notebooks"
ln -s "$root/papers" "$course/papers"
ln -s "$root/figures" "$course/figures"
cp "$root/notebooks/index.md" "$root/notebooks/goodhart.md" "$root/notebooks/ppo.md" "$course/notebooks/"
if ! ALIGNLAB_NOTES_SMOKE=1 ALIGNLAB_CACHE="$tmp/cache" "$shell" weave --all "$course/notebooks" \
     -o "$course/out" --quiet; then
  echo "FAIL: weaving the course (index.md, goodhart.md, ppo.md) failed"; exit 1
fi
check_page index "$course/out/index.html" nomath
check_page goodhart "$course/out/goodhart.html"
check_page ppo "$course/out/ppo.html"

if [ $fail -eq 0 ]; then echo "PASS: browser test"; else echo "FAIL: browser test (logs: $tmp/*.log; pass OUTDIR to keep them)"; fi
exit $fail
