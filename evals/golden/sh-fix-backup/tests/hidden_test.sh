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
mkdir -p "$tmp/src" "$tmp/dest"
echo a > "$tmp/src/app.conf"
echo b > "$tmp/src/my app.conf"
echo c > "$tmp/src/notes.txt"
out=$(bash "$here/backup.sh" "$tmp/src" "$tmp/dest")
check log "$(printf 'backup: app.conf\nbackup: my app.conf')" "$out"
check copied "$(printf 'app.conf.bak\nmy app.conf.bak')" "$(ls "$tmp/dest")"
check content "b" "$(cat "$tmp/dest/my app.conf.bak" 2>/dev/null)"
mkdir -p "$tmp/none" "$tmp/dest2"
bash "$here/backup.sh" "$tmp/none" "$tmp/dest2" >/dev/null 2>&1
check nothing "" "$(ls "$tmp/dest2")"

[ "$fails" = 0 ] && echo "all passed"
exit "$fails"
