#!/usr/bin/env bash
# Prints this machine's apt sources for one Debian suite (default bookworm) and its
# -updates and -security suites, one "deb URI SUITE COMPONENTS" line each, however they
# are written (sources.list or deb822 .sources files): apt itself reads them. This is how
# cross/sysroot.sh and cross/podman.sh hand mmdebstrap the machine's own mirrors, so no
# mirror is ever named in this repository.
#
#   cross/apt-sources.sh [SUITE]
set -euo pipefail
suite="${1:-bookworm}"
sources="$(apt-get indextargets --no-release-info --format '$(TARGET_OF) $(REPO_URI) $(RELEASE) $(COMPONENT)' |
  awk -v s="$suite" '$1 == "deb" && ($3 == s || index($3, s "-") == 1) { print }' |
  awk '{ key = $2 " " $3; if (!(key in c)) { order[++n] = key; c[key] = $4 } else if (index(" " c[key] " ", " " $4 " ") == 0) c[key] = c[key] " " $4 }
       END { for (i = 1; i <= n; i++) print "deb " order[i] " " c[order[i]] }')"
if [ -z "$sources" ]; then
  echo "apt-sources: this machine's apt configuration has no '$suite' sources" >&2
  exit 1
fi
printf '%s\n' "$sources"
