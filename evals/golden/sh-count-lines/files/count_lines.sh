#!/bin/bash
# count_lines.sh DIR: the total number of lines of DIR/*.txt
echo "not implemented" >&2
exit 1
