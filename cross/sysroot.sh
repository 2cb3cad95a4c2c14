#!/usr/bin/env bash
# Makes a Debian bookworm sysroot for cross-compiling Vitrine: the target's libc, GTK 3 and
# webkit2gtk-4.1 with their headers and .pc files, extracted (not installed) for ARCH.
#
#   cross/sysroot.sh ARCH DIR [--runtime]
#
# ARCH: aarch64 (arm64) or armv7 (armhf); a Rust target triple or a Debian architecture
# name work too. DIR must not exist yet; it appears only when complete (built beside it,
# then renamed), so an interrupted run never leaves a half sysroot behind.
# --runtime also extracts cross/packages/run.txt and adds what running the binary in a
# chroot of DIR needs (a minimal /etc/passwd, compiled GSettings schemas).
#
# Why extracted: bookworm multiarch cannot install libwebkit2gtk-4.1-dev:arm64 (its
# dependency chain needs Arch:all Python packages that are not Multi-Arch: foreign), and
# the stock cross images are too old for webkit2gtk-4.1. The same script runs on a Debian
# machine (cross/build.sh) and inside the cross images (cross/*.Dockerfile).
#
# The apt sources are this machine's own (cross/apt-sources.sh reads them through apt):
# their bookworm suites are handed to mmdebstrap on standard input. No mirror is named here.
set -euo pipefail

usage() {
  echo "usage: $0 aarch64|armv7 DIR [--runtime]" >&2
  exit 2
}
[ $# -ge 2 ] || usage
here="$(cd "$(dirname "$0")" && pwd)"
arch_in="$1"
dir="$2"
runtime=0
[ "${3:-}" = "--runtime" ] && runtime=1

case "$arch_in" in
  aarch64 | arm64 | aarch64-unknown-linux-gnu) debarch=arm64 triplet=aarch64-linux-gnu ;;
  armv7 | armhf | armv7-unknown-linux-gnueabihf) debarch=armhf triplet=arm-linux-gnueabihf ;;
  *) usage ;;
esac
suite=bookworm

if [ -e "$dir" ]; then
  echo "sysroot: $dir exists already; remove it first" >&2
  exit 1
fi
command -v mmdebstrap >/dev/null || {
  echo "sysroot: mmdebstrap is missing (apt-get install mmdebstrap)" >&2
  exit 1
}

read_list() { sed 's/#.*//' "$1" | tr -s ' \t' '\n' | grep -v '^$' || true; }
mapfile -t packages < <(read_list "$here/packages/build.txt")
[ "$runtime" = 1 ] && mapfile -t -O "${#packages[@]}" packages < <(read_list "$here/packages/run.txt")
include="$(IFS=,; echo "${packages[*]}")"

# This machine's apt sources for the target suite (bookworm, -updates, -security).
sources="$("$here/apt-sources.sh" "$suite")"

parent="$(dirname "$dir")"
mkdir -p "$parent"
tmp="$(mktemp -d "$parent/.sysroot-$debarch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
rmdir "$tmp" # mmdebstrap wants to create (or find empty) its target

echo "sysroot: $debarch ($suite) into $dir: ${packages[*]}" >&2
errors="$(mktemp)"
trap 'rm -rf "$tmp" "$errors"' EXIT
bootstrap() {
  rm -rf "$tmp"
  printf '%s\n' "$sources" |
    mmdebstrap --mode=root --variant=extract --architectures="$debarch" --include="$include" \
      "$suite" "$tmp" - 2>"$errors"
  local rc=$?
  cat "$errors" >&2
  return $rc
}
# An index of the -security or -updates suite is sometimes inconsistent on the mirror
# ("File has unexpected size … Mirror sync in progress?", armhf especially): try again,
# and if that suite still fails, make the sysroot without it. Its updates change no
# header or ABI a build links against; the warning says so in the log.
if ! bootstrap; then
  echo "sysroot: mmdebstrap failed; retrying once" >&2
  sleep 5
  if ! bootstrap; then
    mapfile -t broken < <(grep -o "Failed to fetch [^ ]*/dists/$suite-[a-z]*/" "$errors" |
      sed 's|.*/dists/||; s|/$||' | sort -u)
    [ "${#broken[@]}" -gt 0 ] || exit 1
    for b in "${broken[@]}"; do
      echo "sysroot: WARNING: the mirror's '$b' index for $debarch is inconsistent; making the sysroot without $b" >&2
      sources="$(printf '%s\n' "$sources" | awk -v b="$b" '$3 != b')"
    done
    bootstrap || exit 1
  fi
fi

# Not needed to link or run, and a third of the size.
rm -rf "$tmp/usr/share/doc" "$tmp/usr/share/man" "$tmp/usr/share/info" "$tmp/usr/share/locale" \
  "$tmp/usr/share/gtk-doc" "$tmp/var/cache/apt" "$tmp/var/lib/apt/lists"

# Absolute symlinks (libm.so -> /lib/…/libm.so.6) would point into the build machine
# from a sysroot: make every one relative to its place inside the tree.
find "$tmp" -type l -lname '/*' -print0 |
  while IFS= read -r -d '' link; do
    target="$(readlink "$link")"
    ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$tmp$target")" "$link"
  done

if [ "$runtime" = 1 ]; then
  mkdir -p "$tmp/etc" "$tmp/root" "$tmp/tmp" "$tmp/run" "$tmp/proc" "$tmp/dev" "$tmp/sys"
  chmod 1777 "$tmp/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$tmp/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$tmp/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files\n' >"$tmp/etc/nsswitch.conf"
  printf '127.0.0.1 localhost\n::1 localhost\n' >"$tmp/etc/hosts"
  # The shared loader cache is what dpkg's triggers would have made; with the paths
  # below the loader finds every library without it.
  printf '/usr/local/lib\n/lib/%s\n/usr/lib/%s\n' "$triplet" "$triplet" >"$tmp/etc/ld.so.conf"
  # GSettings schemas compile the same on any architecture: use this machine's tool.
  if [ -d "$tmp/usr/share/glib-2.0/schemas" ]; then
    glib-compile-schemas "$tmp/usr/share/glib-2.0/schemas"
  fi
fi

# Say what this sysroot is (cross/build.sh and scripts/ci-cross read it).
{
  echo "arch=$debarch"
  echo "triplet=$triplet"
  echo "suite=$suite"
  echo "runtime=$runtime"
  echo "packages=${packages[*]}"
} >"$tmp/.vitrine-sysroot"

mv "$tmp" "$dir"
rm -f "$errors"
trap - EXIT
echo "sysroot: done, $(du -sh "$dir" | cut -f1) in $dir" >&2
