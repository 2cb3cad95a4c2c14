#!/usr/bin/env bash
# Makes a signed RAUC update bundle from an image made by image/build.sh, or from a
# root file system image of one.
#
#   image/bundle.sh IMAGE OUT.raucb [VERSION]
#     IMAGE  vitrine-pc.img(.xz|.zst) or vitrine-pi.img(.xz|.zst): its root slot A is the
#            bundle's root; or ROOT.ext4, a root file system (such as that slot)
#
# The bundle (format verity: RAUC checks every block as it reads it) holds one image,
# rootfs.ext4, for the slot class rootfs; its compatible and version are read from the
# root itself (/etc/rauc/system.conf, /usr/lib/vitrine-image/version) unless VERSION is
# given. A device installs it into the root slot it is not running (rauc install).
#
# Signing: VITRINE_RAUC_CERT and VITRINE_RAUC_KEY (a PEM file, or for the key a PKCS#11
# URI such as "pkcs11:token=...;object=..." of a hardware token) with
# VITRINE_RAUC_KEYRING (the CA the devices trust, to check the signature before
# publishing); unset: the development CA of image/dev-ca.sh, made on first use. See
# docs/updates.md for a production key. Needs rauc, squashfs-tools, e2fsprogs
# (image/host-packages.txt); root only to read a root file system owned by root (no
# mount is used).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
in="${1:-}"
out="${2:-}"
version="${3:-}"
[ -f "$in" ] && [ -n "$out" ] || {
  echo "usage: $0 IMAGE|ROOT.ext4 OUT.raucb [VERSION]" >&2
  exit 2
}
log() { echo "bundle: $*" >&2; }
for tool in rauc mksquashfs debugfs sfdisk; do
  command -v "$tool" >/dev/null || {
    echo "bundle: $tool is missing (scripts/setup-debian image/host-packages.txt)" >&2
    exit 1
  }
done
if [ -n "${VITRINE_RAUC_CERT:-}" ] || [ -n "${VITRINE_RAUC_KEY:-}" ]; then
  cert="${VITRINE_RAUC_CERT:?VITRINE_RAUC_CERT: the signing certificate (PEM)}"
  key="${VITRINE_RAUC_KEY:?VITRINE_RAUC_KEY: the signing key (PEM file or PKCS#11 URI)}"
  keyring="${VITRINE_RAUC_KEYRING:?VITRINE_RAUC_KEYRING: the CA certificate the devices trust}"
else
  ca="$("$here/dev-ca.sh")"
  cert="$ca/signing.cert.pem" key="$ca/signing.key.pem" keyring="$ca/ca.cert.pem"
  log "signing with the development CA ($ca): for test devices only"
fi

work="$(mktemp -d "${TMPDIR:-/var/tmp}/vitrine-bundle.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir "$work/content"
rootfs="$work/content/rootfs.ext4"

# The root: the file itself, or slot A (partition 2) of the image, as long as its file
# system (the partition is a whole slot; the file system may be smaller).
case "$in" in
  *.ext4) cp --sparse=always "$in" "$rootfs" ;;
  *)
    raw="$work/image.raw"
    case "$in" in
      *.xz) xz -dc "$in" | dd of="$raw" bs=1M conv=sparse status=none ;;
      *.zst) zstd -dcq "$in" | dd of="$raw" bs=1M conv=sparse status=none ;;
      *) raw="$in" ;;
    esac
    start=$(sfdisk --json "$raw" | python3 -c "import json,sys; print(json.load(sys.stdin)['partitiontable']['partitions'][1]['start'])")
    blocks=$(dumpe2fs -h "$raw?offset=$((start * 512))" 2>/dev/null | awk -F: '/^Block count/ { gsub(/ /, "", $2); print $2 }')
    bsize=$(dumpe2fs -h "$raw?offset=$((start * 512))" 2>/dev/null | awk -F: '/^Block size/ { gsub(/ /, "", $2); print $2 }')
    [ -n "$blocks" ] && [ -n "$bsize" ] || {
      echo "bundle: $in has no ext4 root file system in its partition 2" >&2
      exit 1
    }
    dd if="$raw" of="$rootfs" bs=1M iflag=skip_bytes,count_bytes skip=$((start * 512)) count=$((blocks * bsize)) conv=sparse status=none
    [ "$raw" = "$in" ] || rm -f "$raw"
    ;;
esac

in_root() { debugfs -R "cat $1" "$rootfs" 2>/dev/null; }
compatible=$(in_root /etc/rauc/system.conf | sed -n 's/^compatible=//p' | head -1)
[ -n "$compatible" ] || {
  echo "bundle: the root has no /etc/rauc/system.conf with compatible= (not a root made by image/build.sh)" >&2
  exit 1
}
[ -n "$version" ] || version=$(in_root /usr/lib/vitrine-image/version | sed -n 's/^VITRINE_IMAGE_VERSION=//p')
[ -n "$version" ] || {
  echo "bundle: no version given and none in the root's /usr/lib/vitrine-image/version" >&2
  exit 1
}

cat >"$work/content/manifest.raucm" <<EOF
[update]
compatible=$compatible
version=$version
description=Vitrine kiosk system ($compatible)
build=$(date -u +%Y%m%dT%H%M%SZ)

[bundle]
format=verity

[image.rootfs]
filename=rootfs.ext4
EOF
rm -f "$out"
# zstd: a fraction of xz's time on two cores, and Debian's kernel reads it.
rauc bundle --cert="$cert" --key="$key" --signing-keyring="$keyring" \
  --mksquashfs-args="-comp zstd -Xcompression-level 6" "$work/content" "$out" >&2
log "$out: $compatible $version, $(($(stat -c %s "$out") / 1048576)) MiB"
echo "$out"
