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
mkdir -p "$tmp/d/sub"
printf 'a\nb\n' > "$tmp/d/one.txt"
printf 'c\nd\ne\n' > "$tmp/d/with space.txt"
printf 'x\n' > "$tmp/d/skip.md"
printf 'y\nz\n' > "$tmp/d/sub/deep.txt"
check total "5" "$(bash "$here/count_lines.sh" "$tmp/d")"
mkdir "$tmp/empty"
check none "0" "$(bash "$here/count_lines.sh" "$tmp/empty")"
bash "$here/count_lines.sh" "$tmp/nope" >/dev/null 2>&1
check missing-dir "2" "$?"

[ "$fails" = 0 ] && echo "all passed"
exit "$fails"
