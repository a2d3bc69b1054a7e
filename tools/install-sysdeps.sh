#!/usr/bin/env bash
# Install the Debian packages evsynth needs, only when they are missing.
#   install-sysdeps.sh chromium   -> chromium (report browser test)
#   install-sysdeps.sh r          -> R with metafor and metadat (reference values, benchmarks)
set -euo pipefail
want=()
for group in "$@"; do
  case "$group" in
    chromium) command -v chromium >/dev/null 2>&1 || want+=(chromium) ;;
    r) Rscript -e 'library(metafor); library(metadat); library(jsonlite)' >/dev/null 2>&1 || want+=(r-base-core r-cran-metafor r-cran-metadat r-cran-jsonlite) ;;
    *) echo "install-sysdeps: unknown group '$group'" >&2; exit 2 ;;
  esac
done
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "install-sysdeps: need root to apt-get install ${want[*]}; install them and rerun" >&2
  exit 1
fi
echo "install-sysdeps: apt-get install ${want[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
