#!/bin/bash
# rename_ext.sh DIR FROM TO
dir=$1 from=$2 to=$3
status=0
for path in "$dir"/*."$from"; do
  [ -f "$path" ] || continue
  old=$(basename "$path")
  new=${old%."$from"}.$to
  if [ -e "$dir/$new" ]; then
    echo "rename_ext.sh: $new exists; $old left alone" >&2
    status=1
    continue
  fi
  mv "$path" "$dir/$new"
  echo "$old -> $new"
done
exit "$status"
