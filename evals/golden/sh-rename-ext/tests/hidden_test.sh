#!/bin/bash
# Hidden tests: each check prints what failed; the exit status counts them.
fails=0
check() { # name expected actual
  if [ "$2" != "$3" ]; then
    printf 'FAIL %s\n  expected: %q\n  actual:   %q\n' "$1" "$2" "$3"
    fails=$((fails + 1))
  else
    echo "ok $1"
  fi
}
export LC_ALL=C
here=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/d"
touch "$tmp/d/a.jpeg" "$tmp/d/b c.jpeg" "$tmp/d/keep.png" "$tmp/d/x.jpeg" "$tmp/d/x.jpg"
out=$(bash "$here/rename_ext.sh" "$tmp/d" jpeg jpg 2>/dev/null)
status=$?
check printed "$(printf 'a.jpeg -> a.jpg\nb c.jpeg -> b c.jpg')" "$out"
check status "1" "$status"
check files "$(printf 'a.jpg\nb c.jpg\nkeep.png\nx.jpeg\nx.jpg')" "$(ls "$tmp/d")"
mkdir -p "$tmp/e"
touch "$tmp/e/one.txt"
bash "$here/rename_ext.sh" "$tmp/e" txt md >/dev/null 2>&1
check clean-status "0" "$?"
check clean-files "one.md" "$(ls "$tmp/e")"

[ "$fails" = 0 ] && echo "all passed"
exit "$fails"
