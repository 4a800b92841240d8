#!/bin/bash
# count_lines.sh DIR: the total number of lines of DIR/*.txt
dir=$1
if [ ! -d "$dir" ]; then
  echo "count_lines.sh: $dir is not a directory" >&2
  exit 2
fi
total=0
for f in "$dir"/*.txt; do
  [ -f "$f" ] || continue
  n=$(wc -l < "$f")
  total=$((total + n))
done
echo "$total"
