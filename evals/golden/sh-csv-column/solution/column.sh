#!/bin/bash
# column.sh FILE N: field N of each line of FILE after its header
file=$1 n=$2
if ! [[ "$n" =~ ^[1-9][0-9]*$ ]]; then
  echo "column.sh: N must be a positive integer, not '$n'" >&2
  exit 2
fi
awk -F, -v n="$n" 'NR > 1 { print (n <= NF ? $n : "") }' "$file"
