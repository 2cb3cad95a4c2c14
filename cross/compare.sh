#!/usr/bin/env bash
# Checks that two builds of Vitrine for one ARM target are the same in what matters on
# the board: the ELF machine and class, the newest glibc symbol version needed (the
# oldest glibc it runs on), the shared libraries it needs (readelf -d, NEEDED), and its
# size within a tolerance. Used by scripts/ci-cross to compare the `cross build` result
# (Podman) with the Docker-free one (cross/build.sh).
#
#   cross/compare.sh A B [SIZE_PERCENT]     (default 5)
#
# Prints one PASS/FAIL line per property; exits 1 if any differs.
set -uo pipefail
[ $# -ge 2 ] || {
  echo "usage: $0 A B [SIZE_PERCENT]" >&2
  exit 2
}
a="$1" b="$2" tolerance="${3:-5}"
failed=0
check() { # NAME VALUE_A VALUE_B
  if [ "$2" = "$3" ]; then
    echo "PASS: same $1: $2"
  else
    echo "FAIL: $1 differs: $2 (A) vs $3 (B)"
    failed=1
  fi
}
for f in "$a" "$b"; do
  [ -f "$f" ] || {
    echo "FAIL: $f does not exist"
    exit 1
  }
done

machine() { LC_ALL=C readelf -h "$1" | awk -F: '/Class:|Machine:|Flags:/ { gsub(/^ +/, "", $2); printf "%s; ", $2 }'; }
glibc() { LC_ALL=C readelf -W --dyn-syms "$1" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1; }
needed() { LC_ALL=C readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' '; }

check "ELF class, machine and flags" "$(machine "$a")" "$(machine "$b")"
check "glibc floor" "$(glibc "$a")" "$(glibc "$b")"
check "NEEDED libraries" "$(needed "$a")" "$(needed "$b")"

size_a="$(stat -c %s "$a")" size_b="$(stat -c %s "$b")"
percent="$(awk -v a="$size_a" -v b="$size_b" 'BEGIN { d = a - b; if (d < 0) d = -d; printf "%.2f", 100 * d / b }')"
if awk -v p="$percent" -v t="$tolerance" 'BEGIN { exit !(p <= t) }'; then
  echo "PASS: sizes within $tolerance %: $size_a vs $size_b bytes ($percent %)"
else
  echo "FAIL: sizes differ by $percent % (more than $tolerance %): $size_a vs $size_b bytes"
  failed=1
fi
exit "$failed"
