# lib.sh: what the scripts share
log() {
  echo "$*"
}
