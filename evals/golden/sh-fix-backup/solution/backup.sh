#!/bin/bash
# backup.sh SRC DEST: DEST/NAME.conf.bak for each SRC/NAME.conf
. "$(dirname "$0")/lib.sh"
src=$1 dest=$2
mkdir -p "$dest"
for path in "$src"/*.conf; do
  [ -f "$path" ] || continue
  f=$(basename "$path")
  cp "$path" "$dest/$f.bak"
  log "backup: $f"
done
