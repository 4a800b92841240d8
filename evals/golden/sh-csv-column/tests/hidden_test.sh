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
printf 'name,qty,price\napple,3,1.20\npear,10,0.80\nshort\n' > "$tmp/f.csv"
check second "$(printf '3\n10\n')" "$(bash "$here/column.sh" "$tmp/f.csv" 2)"
check first "$(printf 'apple\npear\nshort')" "$(bash "$here/column.sh" "$tmp/f.csv" 1)"
check short-line "$(printf '1.20\n0.80\n')" "$(bash "$here/column.sh" "$tmp/f.csv" 3)"
bash "$here/column.sh" "$tmp/f.csv" zero >/dev/null 2>&1
check bad-n "2" "$?"
bash "$here/column.sh" "$tmp/f.csv" 0 >/dev/null 2>&1
check zero-n "2" "$?"

[ "$fails" = 0 ] && echo "all passed"
exit "$fails"
