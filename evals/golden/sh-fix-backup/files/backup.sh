#!/bin/bash
# backup.sh SRC DEST: DEST/NAME.conf.bak for each SRC/NAME.conf
. "$(dirname "$0")/lib.sh"
src=$1 dest=$2
mkdir -p "$dest"
for f in $(cd "$src" && ls *.conf); do
  cp "$src/$f" "$dest/$f.bak" 2>/dev/null || touch "$dest/$f.bak"
  log "backup: $f"
done
