#!/usr/bin/env bash
# Makes Podman ready for `cross build` on a Debian 12 host that reaches no container
# registry, and prints the environment that points `cross` and Podman at it:
#
#   eval "$(cross/podman.sh)"     # as root (rootful Podman; mmdebstrap --mode=root)
#   cross build --release --target aarch64-unknown-linux-gnu
#
# What it prepares, under $VITRINE_PODMAN_DIR (default $VITRINE_CI_CACHE/podman, and
# VITRINE_CI_CACHE defaults to /var/cache/vitrine-ci), apart from the machine's own Podman
# configuration and images:
#   - containers.conf: runtime runc (crun fails here: "cgroups in hybrid mode not
#     supported"), default ulimits within this host's hard limits (Podman's defaults are
#     higher, and the container's setrlimit then fails), the host's network (apt in
#     the container reaches the mirrors the way this machine does, and no bridge or
#     firewall rules are set up on a shared machine; the default bridge works here too);
#   - storage.conf: image storage in that folder, so CI keeps it between runs;
#   - the base image the cross/*.Dockerfile images start FROM, `debian:bookworm`: a
#     minbase bookworm made by mmdebstrap from this machine's apt sources
#     (cross/apt-sources.sh) and imported. Nothing is pulled.
# The image is keyed by a hash of what makes it (the apt sources, mmdebstrap's
# options): a second run with the same inputs only rewrites the settings, in a second. Runs of this
# script on one machine take turns (flock).
#
# Podman's packages are in scripts/packages/cross.txt; they are installed when missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
cache="${VITRINE_CI_CACHE:-/var/cache/vitrine-ci}"
dir="${VITRINE_PODMAN_DIR:-$cache/podman}"
base=debian:bookworm
suite=bookworm
log() { echo "podman: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "run as root: the base image is made with mmdebstrap --mode=root (see the README for rootless Podman)"
  exit 1
fi
"$root/scripts/setup-debian" "$root/scripts/packages/cross.txt" >&2

mkdir -p "$dir"
exec 9>"$dir.lock"
flock 9

# The container may not raise a limit above the host's hard limit; and here (measured)
# not RLIMIT_NPROC above kernel.pid_max either, though the hard limit is higher.
limit() { # ulimit flag, fallback when unlimited
  local v
  v="$(ulimit -H "$1")"
  [ "$v" = unlimited ] && v="$2"
  echo "$v"
}
nofile="$(limit -n 1048576)"
nproc="$(limit -u 1048576)"
pid_max="$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo "$nproc")"
[ "$nproc" -gt "$pid_max" ] && nproc="$pid_max"
sources="$("$here/apt-sources.sh" "$suite")"
# minbase: Essential and Required packages with apt, as in the stock image; apt's lists
# and caches are left out of the image, as there.
mmdebstrap_args=(--mode=root --variant=minbase --format=tar --dpkgopt=force-unsafe-io
  --aptopt='Acquire::Languages "none"'
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin')
import_args=(--change 'CMD ["bash"]')
# The image is keyed by what decides its content; the settings below are written anew
# on every run.
key="$(printf '%s\n' "$sources" "${mmdebstrap_args[@]}" "${import_args[@]}" | sha256sum | cut -c1-16)"

cat >"$dir/containers.conf.new" <<EOF
# Made by cross/podman.sh, anew on every run.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
netns = "host"

[engine]
runtime = "runc"
EOF
# Run-time state is per storage folder: two folders must not share it.
cat >"$dir/storage.conf.new" <<EOF
# Made by cross/podman.sh, anew on every run.
[storage]
driver = "overlay"
graphroot = "$dir/storage"
runroot = "/run/vitrine-podman-$(printf %s "$dir" | sha256sum | cut -c1-8)"
EOF
mv "$dir/containers.conf.new" "$dir/containers.conf"
mv "$dir/storage.conf.new" "$dir/storage.conf"
export CONTAINERS_CONF="$dir/containers.conf"
export CONTAINERS_STORAGE_CONF="$dir/storage.conf"

have="$(podman image inspect --format '{{index .Labels "org.vitrine.base-key"}}' "$base" 2>/dev/null || true)"
if [ "$have" = "$key" ]; then
  log "$base is current ($key)"
else
  t="$(date +%s)"
  log "making $base ($key) with mmdebstrap from this machine's apt sources"
  # Imported under a name of its own, and named $base only once mmdebstrap has
  # succeeded: a broken stream must not pass for the current image.
  building="localhost/vitrine-base-building:$key"
  printf '%s\n' "$sources" | mmdebstrap --quiet "${mmdebstrap_args[@]}" "$suite" - - |
    podman import --quiet "${import_args[@]}" --change "LABEL org.vitrine.base-key=$key" - "$building" >/dev/null
  # The images cross built on an older base are of no more use.
  mapfile -t old < <(podman images --quiet --filter label=org.cross-rs.for-cross-target)
  [ "${#old[@]}" -eq 0 ] || podman rmi --force "${old[@]}" >/dev/null
  podman tag "$building" "$base"
  podman rmi "$building" >/dev/null
  podman image prune --force >/dev/null
  log "made $base in $(($(date +%s) - t)) s"
fi
flock -u 9

cat <<EOF
export CONTAINERS_CONF=$CONTAINERS_CONF
export CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF
export CROSS_CONTAINER_ENGINE=podman
EOF
