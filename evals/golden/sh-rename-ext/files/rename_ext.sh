#!/bin/bash
# rename_ext.sh DIR FROM TO
echo "not implemented" >&2
exit 1
