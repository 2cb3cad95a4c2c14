#!/usr/bin/env bash
# Makes a flashable kiosk image from Debian bookworm packages and a Vitrine .deb.
#
#   image/build.sh pi|pc DEB OUTDIR
#
# Both images have the A/B layout that RAUC updates (docs/updates.md):
#   1 boot   FAT: the boot loader, its boot-choice environment and the per-device
#            settings (vitrine.env, device.txt, applied at each boot by
#            vitrine-settings.service); mounted at /boot/firmware
#   2 root A ext4, the running system (its kernel and initrd in /boot)
#   3 root B the same size, empty until the first update writes it
#   4 data   ext4 at /data: /var/lib/vitrine (bind-mounted), RAUC's status; it grows to
#            the card on the first boot (vitrine-growdata.service)
#   pi  Raspberry Pi, arm64 (Pi 3, Pi 4, Zero 2 W): MBR; the Pi firmware loads U-Boot
#       (Debian's u-boot-rpi), whose boot.scr counts the boots of each slot in uboot.env.
#   pc  x86-64 panel, UEFI: GPT; GRUB (grub-efi-amd64-bin) as EFI/BOOT/BOOTX64.EFI, whose
#       grub.cfg picks the slot from grubenv (ORDER, A_OK, A_TRY, ...).
# The partition ids are fixed per variant (not per build): an update bundle made from a
# later build finds the same partitions.
#
# Writes OUTDIR/vitrine-VARIANT.img.xz, .img.bmap and SHA256SUMS (and prints the image's
# path); image/bundle.sh makes the signed update bundle from that image.
#
# The keyring RAUC checks bundles against: VITRINE_RAUC_KEYRING (a PEM file of CA
# certificates), else the development CA that image/dev-ca.sh makes on first use.
#
# How: mmdebstrap makes the root tree (root mode; a foreign architecture runs its
# maintainer scripts through qemu-user's binfmt_misc handler, registered here if needed
# and unregistered after); the .deb goes in with dpkg --root on an overlay of it; the
# partitions are made as files (mkfs.vfat + mtools, mke2fs -d) and put into the image at
# their offsets, after sfdisk wrote the table: no loop device, no mount of the image.
#
# Cached in VITRINE_CI_CACHE (default /var/cache/vitrine-ci), under flock:
#   image-tree-VARIANT-KEY  the tree, KEY a hash of the package lists, the .deb's
#                           dependencies and this machine's apt sources;
#   image-VARIANT-KEY       the outputs, KEY a hash of the tree's key, the .deb, image/
#                           and the keyring.
# The apt sources are this machine's own (apt-get indextargets), with non-free-firmware
# added for the Pi's firmware; no mirror is named here. Needs root.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
variant="${1:-}"
deb="${2:-}"
outdir="${3:-}"
case "$variant" in
  pi) debarch=arm64 ;;
  pc) debarch=amd64 ;;
  *)
    echo "usage: $0 pi|pc DEB OUTDIR" >&2
    exit 2
    ;;
esac
[ -f "$deb" ] && [ -n "$outdir" ] || {
  echo "usage: $0 pi|pc DEB OUTDIR" >&2
  exit 2
}
[ "$(id -u)" = 0 ] || {
  echo "image: needs root (mmdebstrap --mode=root, dpkg --root, chown in the tree)" >&2
  exit 1
}
deb="$(realpath "$deb")"
mkdir -p "$outdir"
outdir="$(realpath "$outdir")"
cache="${VITRINE_CI_CACHE:-/var/cache/vitrine-ci}"
suite=bookworm
log() { echo "image[$variant]: $*" >&2; }
now() { date +%s; }

debarch_of_deb="$(dpkg-deb -f "$deb" Architecture)"
[ "$debarch_of_deb" = "$debarch" ] || {
  echo "image: $deb is for $debarch_of_deb, the $variant image needs $debarch" >&2
  exit 1
}

read_list() { sed 's/#.*//' "$@" | tr -s ' \t' '\n' | grep -v '^$' || true; }
mapfile -t packages < <({
  read_list "$here/packages/common.txt" "$here/packages/$variant.txt"
  dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/(.*)//; s/|.*//; s/[[:space:]]//g'
} | grep -v '^$' | sort -u)

# This machine's sources for bookworm, -updates and -security, one "deb URI SUITE
# COMPONENTS" line each; the Pi's firmware is in non-free-firmware, beside main.
sources="$(apt-get indextargets --no-release-info --format '$(TARGET_OF) $(REPO_URI) $(RELEASE) $(COMPONENT)' |
  awk -v s="$suite" '$1 == "deb" && ($3 == s || index($3, s "-") == 1) { print }' |
  awk '{ key = $2 " " $3; if (!(key in c)) { order[++n] = key; c[key] = $4 } else if (index(" " c[key] " ", " " $4 " ") == 0) c[key] = c[key] " " $4 }
       END { for (i = 1; i <= n; i++) { l = c[order[i]]; if (index(" " l " ", " main ") && !index(" " l " ", " non-free-firmware ")) l = l " non-free-firmware"; print "deb " order[i] " " l } }')"
[ -n "$sources" ] || {
  echo "image: this machine's apt has no '$suite' sources (apt-get indextargets)" >&2
  exit 1
}
mapfile -t mirrors <<<"$sources"
aptopts=()
for opt in Acquire::Check-Valid-Until Acquire::Check-Date Acquire::http::Proxy Acquire::https::Proxy Acquire::Retries; do
  value=$(apt-config dump "$opt" | awk -v o="$opt" '$1 == o { v = $2; gsub(/[";]/, "", v); print v }')
  [ -n "$value" ] && aptopts+=(--aptopt="$opt \"$value\"")
done

# The compression of the published image: xz for what is flashed (Raspberry Pi Imager,
# bmaptool, balenaEtcher all read it); VITRINE_IMAGE_COMPRESS=zst for the boot test,
# which needs the image but not its smallest file (zstd -T0 takes seconds where xz takes
# minutes on two cores).
compress="${VITRINE_IMAGE_COMPRESS:-xz}"
case "$compress" in
  xz | zst) ;;
  *)
    echo "image: VITRINE_IMAGE_COMPRESS is xz or zst, not '$compress'" >&2
    exit 2
    ;;
esac
# The Pi's initrd is made once, at the end, from a module list (initramfs/pi-modules):
# under qemu-user, initramfs-tools' own runs (MODULES=most, once per kernel hook and
# trigger) spawn a modprobe per module and took most of an hour.
tree_recipe=()
[ "$variant" = pi ] && tree_recipe=(initrd-list-v1 "$(cat "$here/initramfs/pi-modules")")
tree_key="$(printf '%s\n' tree-v1 "$variant" "$debarch" "${packages[@]}" "${mirrors[@]}" "${aptopts[@]}" "${tree_recipe[@]}" | sha256sum | cut -c1-16)"
# The CA certificates RAUC accepts bundles from (copied to /etc/rauc/keyring.pem).
if [ -n "${VITRINE_RAUC_KEYRING:-}" ]; then
  keyring="$(realpath "$VITRINE_RAUC_KEYRING")"
else
  keyring="$("$here/dev-ca.sh")/ca.cert.pem"
  log "keyring: the development CA ($keyring); set VITRINE_RAUC_KEYRING for devices in the field"
fi
openssl x509 -in "$keyring" -noout 2>/dev/null || {
  echo "image: $keyring is not a PEM certificate (VITRINE_RAUC_KEYRING)" >&2
  exit 1
}
image_key="$( (
  echo "$tree_key"
  echo "$compress"
  sha256sum "$keyring" | cut -d' ' -f1
  sha256sum "$deb" | cut -d' ' -f1
  cd "$here" && find . -type f -print0 | sort -z | xargs -0 sha256sum
) | sha256sum | cut -c1-16)"
tree="$cache/image-tree-$variant-$tree_key"
result="$cache/image-$variant-$image_key"
name="vitrine-$variant"
mkdir -p "$cache"
exec 8>"$cache/image-$variant.lock"
flock 8

publish() {
  rm -f "$outdir/$name.img.xz" "$outdir/$name.img.zst"
  cp "$result/$name.img.$compress" "$result/$name.img.bmap" "$result/SHA256SUMS" "$result/build.txt" "$outdir/"
  echo "$outdir/$name.img.$compress"
}
if [ -f "$result/SHA256SUMS" ]; then
  log "cached: $result"
  publish
  exit 0
fi

work="$(mktemp -d "$cache/.image-$variant.XXXXXX")"
binfmt_undo=()
cleanup() {
  mountpoint -q "$work/root" 2>/dev/null && umount "$work/root"
  rm -rf "$work"
  local u
  for u in "${binfmt_undo[@]}"; do eval "$u"; done
}
trap cleanup EXIT

# --- the tree --------------------------------------------------------------------------
# A foreign architecture runs its maintainer scripts under qemu-user (qemu-user-static's
# handler; its F flag lets the chroot do without qemu inside).
binfmt_ready() {
  local b=/proc/sys/fs/binfmt_misc conf=/usr/lib/binfmt.d/qemu-aarch64.conf
  if ! mountpoint -q "$b"; then
    mount -t binfmt_misc binfmt_misc "$b"
    binfmt_undo=("umount $b" "${binfmt_undo[@]}")
  fi
  if [ ! -e "$b/qemu-aarch64" ]; then
    cat "$conf" >"$b/register"
    binfmt_undo=("echo -1 >$b/qemu-aarch64" "${binfmt_undo[@]}")
  elif ! grep -qx enabled "$b/qemu-aarch64"; then
    echo 1 >"$b/qemu-aarch64"
    binfmt_undo=("echo 0 >$b/qemu-aarch64" "${binfmt_undo[@]}")
  fi
}

t0=$(now)
if [ -f "$tree/.vitrine-image-tree" ]; then
  log "cached tree: $tree"
  tree_secs=0
else
  find "$cache" -mindepth 1 -maxdepth 1 -name "image-tree-$variant-*" -exec rm -rf {} +
  [ "$debarch" = "$(dpkg --print-architecture)" ] || binfmt_ready
  building="$cache/.image-tree-$variant-building"
  rm -rf "$building"
  log "mmdebstrap $suite $debarch: ${#packages[@]} packages"
  # force-unsafe-io: no fsync per unpacked file while building (the image is written
  # afterwards); documentation and translations are left out of a kiosk.
  initrd_hooks=()
  if [ "$variant" = pi ]; then
    # update-initramfs is a no-op while the packages go in (diverted; its hook and
    # trigger run it twice); the customize hook restores it and runs mkinitramfs once,
    # with a copy of the tree's own configuration set to MODULES=list.
    initrd_hooks=(
      --essential-hook='chroot "$1" dpkg-divert --quiet --local --rename --divert /usr/sbin/update-initramfs.vitrine-image --add /usr/sbin/update-initramfs && printf "#!/bin/sh\nexit 0\n" >"$1/usr/sbin/update-initramfs" && chmod 755 "$1/usr/sbin/update-initramfs"'
      --customize-hook='rm "$1/usr/sbin/update-initramfs" && chroot "$1" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs'
      --customize-hook="upload $here/initramfs/pi-modules /tmp/vitrine-initrd-modules"
      --customize-hook='set -e; kver=$(ls "$1/lib/modules" | sort -V | tail -1); conf=/tmp/vitrine-initramfs; chroot "$1" sh -ec "cp -a /etc/initramfs-tools $conf; sed -i s/^MODULES=.*/MODULES=list/ $conf/initramfs.conf; grep -v ^# /tmp/vitrine-initrd-modules >>$conf/modules; mkinitramfs -d $conf -o /boot/initrd.img-$kver $kver; rm -rf $conf /tmp/vitrine-initrd-modules"'
    )
  fi
  mmdebstrap --mode=root --variant=minbase --architectures="$debarch" "${initrd_hooks[@]}" \
    --include="$(
      IFS=,
      echo "${packages[*]}"
    )" "${aptopts[@]}" --dpkgopt=force-unsafe-io \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='rm -f "$1"/etc/ssh/ssh_host_* "$1"/var/lib/systemd/random-seed "$1"/var/lib/dbus/machine-id' \
    --customize-hook='echo uninitialized >"$1"/etc/machine-id' \
    "$suite" "$building" "${mirrors[@]}" >&2
  rm -rf "$building/var/cache/apt/"*.bin "$building/var/lib/apt/lists/"*_Packages
  touch "$building/.vitrine-image-tree"
  mv "$building" "$tree"
  tree_secs=$(($(now) - t0))
  log "tree made in $tree_secs s ($(du -sm "$tree" | cut -f1) MB)"
fi

# --- this image's root: the tree, the .deb, the image's own parts -----------------------
t1=$(now)
root="$work/root"
mkdir -p "$root" "$work/upper" "$work/ovl"
mount -t overlay overlay -o "lowerdir=$tree,upperdir=$work/upper,workdir=$work/ovl" "$root"
rm -f "$root/.vitrine-image-tree"
# The package's maintainer scripts honour DPKG_ROOT, so they run here, not under emulation.
cp "$deb" "$work/vitrine.deb"
dpkg --root="$root" --force-script-chrootless --force-architecture --force-unsafe-io \
  --path-exclude='/usr/share/doc/*' -i "$work/vitrine.deb" >&2
cp -R --preserve=mode "$here/rootfs/." "$root/"

# Partition ids, fixed per variant: the same on every card and in every build, so that a
# bundle made from a later build finds the partitions the device has (a device tells
# itself apart by its machine-id, made at first boot).
idhex="$(echo "vitrine-$variant-ab-v1" | sha256sum | cut -c1-32)"
uuid() { echo "${idhex:0:8}-${idhex:8:4}-4${idhex:13:3}-a${idhex:17:3}-$1"; }
if [ "$variant" = pi ]; then
  label=dos
  boot_partuuid="${idhex:0:8}-01" a_partuuid="${idhex:0:8}-02" b_partuuid="${idhex:0:8}-03" data_partuuid="${idhex:0:8}-04"
else
  label=gpt
  boot_partuuid="$(uuid "${idhex:20:8}0001")" a_partuuid="$(uuid "${idhex:20:8}0002")"
  b_partuuid="$(uuid "${idhex:20:8}0003")" data_partuuid="$(uuid "${idhex:20:8}0004")"
fi
version="$(dpkg-deb -f "$deb" Version)+$image_key"
# The root is slot A or B, whichever the boot loader chose (root= on the kernel's
# command line), hence /dev/root. The boot partition is read-write: RAUC and the boot
# loader keep the slot choice there (Linux marks a FAT dirty while mounted; the fsck
# below repairs that after a power cut).
cat >"$root/etc/fstab" <<EOF
# Written by image/build.sh. / is root slot A or B (the boot loader's choice); /data is
# shared by both slots and grows to the card at first boot (vitrine-growdata.service,
# then x-systemd.growfs).
/dev/root / ext4 defaults,noatime,errors=remount-ro 0 1
PARTUUID=$boot_partuuid /boot/firmware vfat rw,noatime,umask=0077,flush,nofail 0 2
PARTUUID=$data_partuuid /data ext4 defaults,noatime,errors=remount-ro,x-systemd.growfs 0 2
/data/vitrine /var/lib/vitrine none bind,x-systemd.requires-mounts-for=/data 0 0
EOF
mkdir -p "$root/boot/firmware" "$root/data" "$root/var/lib/vitrine"
echo vitrine >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tvitrine\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
ln -sfn /usr/share/zoneinfo/Etc/UTC "$root/etc/localtime"
echo Etc/UTC >"$root/etc/timezone"
printf 'VITRINE_IMAGE_VARIANT=%s\nVITRINE_IMAGE_VERSION=%s\n' "$variant" "$version" >"$root/usr/lib/vitrine-image/version"

# RAUC: the two root slots, the boot loader that switches them, the keyring, and the
# status on /data (shared by both slots).
kver="$(basename "$(ls -d "$root"/lib/modules/* | sort -V | tail -1)")"
mkdir -p "$root/etc/rauc"
install -m 644 "$keyring" "$root/etc/rauc/keyring.pem"
if [ "$variant" = pi ]; then
  bootloader="bootloader=uboot"
  printf '# The U-Boot environment boot.scr keeps (image/build.sh): a file on the boot partition.\n/boot/firmware/uboot.env 0x0000 0x4000\n' >"$root/etc/fw_env.config"
else
  bootloader="bootloader=grub
grubenv=/boot/firmware/EFI/vitrine/grubenv"
fi
cat >"$root/etc/rauc/system.conf" <<EOF
# RAUC's view of this device (image/build.sh; docs/updates.md). Bundles must say
# compatible=vitrine-$variant and be signed by a certificate of keyring.pem.
[system]
compatible=vitrine-$variant
$bootloader
data-directory=/data/rauc
bundle-formats=-plain
# Three boots of a new slot to become healthy (the U-Boot script; GRUB counts the same).
boot-attempts-primary=3
boot-attempts=3

[keyring]
path=/etc/rauc/keyring.pem

[handlers]
# Carries the device's identity into the new slot and notes it as on trial.
post-install=/usr/lib/vitrine-image/update-post-install

[slot.rootfs.0]
device=/dev/disk/by-partuuid/$a_partuuid
type=ext4
bootname=A
resize=true

[slot.rootfs.1]
device=/dev/disk/by-partuuid/$b_partuuid
type=ext4
bootname=B
resize=true
EOF
# The boot loader loads the kernel and initrd of the slot it picked, by these names.
ln -sfn "vmlinuz-$kver" "$root/boot/vmlinuz"
ln -sfn "initrd.img-$kver" "$root/boot/initrd.img"
[ "$variant" = pi ] && ln -sfn "../usr/lib/linux-image-$kver" "$root/boot/dtbs"

# Boot to the kiosk: graphical.target, vitrine.service with cage as its display, no
# getty on the kiosk's tty; networkd and resolved for the network, SSH off until a key
# is given (vitrine-settings.service starts it then). The update units commit a new
# slot once the kiosk is healthy.
sysctl_root=(systemctl --root="$root" --quiet)
"${sysctl_root[@]}" set-default graphical.target
"${sysctl_root[@]}" enable vitrine.service vitrine-settings.service vitrine-growdata.service \
  vitrine-update-commit.service systemd-networkd.service systemd-resolved.service systemd-timesyncd.service
"${sysctl_root[@]}" disable ssh.service ssh.socket 2>/dev/null || true
"${sysctl_root[@]}" mask getty@tty1.service
# resolved's stub; the link is what its postinst would make on a running system.
ln -sfn ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"

# --- the boot partition ---------------------------------------------------------------
bootdir="$work/boot"
mkdir -p "$bootdir"
[ -f "$root/boot/initrd.img-$kver" ] || {
  echo "image: no initrd for kernel $kver in the tree" >&2
  exit 1
}
# panic=10: a kernel that panics reboots, and the boot loader counts that boot as a try.
cmdline_common="rootfstype=ext4 ro rootwait fsck.repair=yes panic=10 quiet loglevel=3 systemd.show_status=auto vt.global_cursor_default=0 consoleblank=0"
if [ "$variant" = pi ]; then
  cp -a "$root/usr/lib/raspi-firmware/." "$bootdir/"
  cp "$root/usr/lib/linux-image-$kver/broadcom/"bcm27*rpi*.dtb "$root/usr/lib/linux-image-$kver/broadcom/"bcm28*rpi*.dtb "$bootdir/" 2>/dev/null || true
  ls "$bootdir"/*.dtb >/dev/null
  cp "$root/usr/lib/u-boot/rpi_arm64/u-boot.bin" "$bootdir/u-boot.bin"
  cat >"$bootdir/config.txt" <<'EOF'
# Raspberry Pi firmware settings (image/build.sh). The firmware loads U-Boot (Debian's
# u-boot-rpi), whose boot.scr picks root slot A or B and boots its kernel; the device
# trees beside this file are what the firmware hands over, 64-bit mode.
arm_64bit=1
upstream_kernel=1
kernel=u-boot.bin
enable_uart=1
disable_overscan=1
disable_splash=1
# The kernel's KMS driver (vc4) drives the display; the firmware leaves it alone.
dtoverlay=vc4-kms-v3d
EOF
  # Serial first (Pi 3/4 GPIO UART, or the first PL011 elsewhere), then tty3, so that
  # the kiosk's tty1 shows no kernel text.
  sed -e "s|@A_PARTUUID@|$a_partuuid|; s|@B_PARTUUID@|$b_partuuid|" \
    -e "s|@CMDLINE@|$cmdline_common console=tty3 console=ttyS1,115200 console=ttyAMA0,115200|" \
    "$here/uboot/boot.cmd" >"$work/boot.cmd"
  mkimage -A arm64 -O linux -T script -C none -n "vitrine A/B" -d "$work/boot.cmd" "$bootdir/boot.scr" >/dev/null
  cp "$work/boot.cmd" "$bootdir/boot.cmd"
  # The environment U-Boot reads (and boot.scr saves) from the FAT: slot A, three tries.
  printf 'BOOT_ORDER=A B\nBOOT_A_LEFT=3\nBOOT_B_LEFT=0\n' >"$work/uboot-env.txt"
  mkenvimage -s 0x4000 -o "$bootdir/uboot.env" "$work/uboot-env.txt"
else
  mkdir -p "$bootdir/EFI/BOOT" "$bootdir/EFI/vitrine"
  # GRUB as the removable-media path (no NVRAM entry needed), its modules built in; its
  # prefix is the folder of grub.cfg and grubenv on the partition it was loaded from.
  chroot "$root" grub-mkimage -O x86_64-efi -p /EFI/vitrine -o /tmp/bootx64.efi \
    part_gpt fat ext2 normal linux loadenv test echo regexp configfile reboot sleep \
    efi_gop all_video gzio >&2
  mv "$root/tmp/bootx64.efi" "$bootdir/EFI/BOOT/BOOTX64.EFI"
  # no_timer_check: the IO-APIC timer check fails spuriously when the host of a virtual
  # panel is busy (a panic at boot under qemu); real chipsets pass it anyway.
  sed -e "s|@A_PARTUUID@|$a_partuuid|; s|@B_PARTUUID@|$b_partuuid|" \
    -e "s|@CMDLINE@|$cmdline_common no_timer_check console=tty3 console=ttyS0,115200|" \
    "$here/grub/grub.cfg" >"$bootdir/EFI/vitrine/grub.cfg"
  # The environment: 1 KiB written in place by GRUB (save_env) and by grub-editenv.
  chroot "$root" grub-editenv /tmp/grubenv create
  chroot "$root" grub-editenv /tmp/grubenv set ORDER="A B" A_OK=1 A_TRY=0 B_OK=0 B_TRY=0
  mv "$root/tmp/grubenv" "$bootdir/EFI/vitrine/grubenv"
fi
cp "$here/boot/"* "$bootdir/"

# --- the image: table, then the partitions as files at their offsets -------------------
MiB=$((1024 * 1024))
# Each root slot has room for a system half again as big as this one: the partitions
# cannot move once flashed. /data starts small and grows to the card.
slot_mb=${VITRINE_IMAGE_SLOT_MB:-3072}
data_mb=64
boot_start=$((4 * MiB)) boot_size=$((256 * MiB))
a_start=$((boot_start + boot_size)) slot_size=$((slot_mb * MiB))
b_start=$((a_start + slot_size))
data_start=$((b_start + slot_size)) data_size=$((data_mb * MiB))
used_mb=$(du -sm -x "$root" | cut -f1)
# The root's own spare room (logs, the first boot's writes); RAUC grows an installed
# root to its slot (resize=true).
root_mb=$(((used_mb * 125 / 100 + 256 + 3) / 4 * 4))
[ "$root_mb" -le "$slot_mb" ] || {
  echo "image: the root needs $root_mb MiB, more than a slot's $slot_mb MiB (VITRINE_IMAGE_SLOT_MB)" >&2
  exit 1
}
img="$work/$name.img"
truncate -s $((data_start + data_size + MiB)) "$img"
if [ "$label" = dos ]; then
  sfdisk --quiet --no-reread --no-tell-kernel "$img" >&2 <<EOF
label: dos
label-id: 0x${idhex:0:8}
start=$((boot_start / 512)), size=$((boot_size / 512)), type=c, bootable
start=$((a_start / 512)), size=$((slot_size / 512)), type=83
start=$((b_start / 512)), size=$((slot_size / 512)), type=83
start=$((data_start / 512)), size=$((data_size / 512)), type=83
EOF
else
  # Root slots as "Linux filesystem", not the x86-64 root type: systemd's
  # gpt-auto-generator must not mount either on its own.
  sfdisk --quiet --no-reread --no-tell-kernel "$img" >&2 <<EOF
label: gpt
label-id: $(uuid "${idhex:20:8}0000")
start=$((boot_start / 512)), size=$((boot_size / 512)), type=U, uuid=$boot_partuuid, name=boot
start=$((a_start / 512)), size=$((slot_size / 512)), type=L, uuid=$a_partuuid, name=root-a
start=$((b_start / 512)), size=$((slot_size / 512)), type=L, uuid=$b_partuuid, name=root-b
start=$((data_start / 512)), size=$((data_size / 512)), type=L, uuid=$data_partuuid, name=data
EOF
fi

mkfs.vfat -F 32 -n VITRINE -i "${idhex:24:8}" -C "$work/boot.fat" $((boot_size / 1024)) >/dev/null
mcopy -s -i "$work/boot.fat" "$bootdir/"* ::/
# mke2fs -d copies the tree with owners, modes, links and xattrs; sparse output.
mke2fs -q -t ext4 -L vitrine-root -U "$(uuid "${idhex:20:8}0012")" -E root_owner=0:0 \
  -d "$root" "$work/root.ext4" "${root_mb}M" >&2
# /data: the store's folder (owned by the kiosk's user, as StateDirectory= makes it) and
# RAUC's.
mkdir -p "$work/data/vitrine" "$work/data/rauc" "$work/data/image"
chmod 700 "$work/data/vitrine"
vuid=$(awk -F: '$1 == "vitrine" { print $3 ":" $4 }' "$root/etc/passwd")
[ -n "$vuid" ] && chown "$vuid" "$work/data/vitrine"
mke2fs -q -t ext4 -L vitrine-data -U "$(uuid "${idhex:20:8}0014")" -E root_owner=0:0 \
  -d "$work/data" "$work/data.ext4" "${data_mb}M" >&2
dd if="$work/boot.fat" of="$img" bs=1M seek=$((boot_start / MiB)) conv=notrunc,sparse status=none
dd if="$work/root.ext4" of="$img" bs=1M seek=$((a_start / MiB)) conv=notrunc,sparse status=none
dd if="$work/data.ext4" of="$img" bs=1M seek=$((data_start / MiB)) conv=notrunc,sparse status=none
umount "$root"

bmaptool create -o "$work/$name.img.bmap" "$img" >&2
# -1: most of the gain of -6 in a fraction of the time (the image is mostly packages,
# already compressed).
tc=$(now)
if [ "$compress" = xz ]; then xz -T0 -1 -k "$img"; else zstd -q -T0 -3 "$img" -o "$img.zst"; fi
compress_secs=$(($(now) - tc))
raw_bytes=$(stat -c %s "$img")
rm -f "$img"
(cd "$work" && sha256sum "$name.img.$compress" "$name.img.bmap" >SHA256SUMS)
{
  echo "variant=$variant"
  echo "arch=$debarch"
  echo "kernel=$kver"
  echo "deb=$(dpkg-deb -f "$deb" Package)_$(dpkg-deb -f "$deb" Version)_$debarch"
  echo "version=$version"
  echo "raw_bytes=$raw_bytes"
  echo "compression=$compress"
  echo "compressed_bytes=$(stat -c %s "$work/$name.img.$compress")"
  echo "tree_seconds=$tree_secs"
  echo "image_seconds=$(($(now) - t1))"
  echo "compress_seconds=$compress_secs"
  echo "root_mb=$root_mb"
  echo "slot_mb=$slot_mb"
  echo "boot_partuuid=$boot_partuuid"
  echo "a_partuuid=$a_partuuid"
  echo "b_partuuid=$b_partuuid"
  echo "data_partuuid=$data_partuuid"
} >"$work/build.txt"
find "$cache" -mindepth 1 -maxdepth 1 -name "image-$variant-*" -exec rm -rf {} +
mkdir -p "$result.new"
mv "$work/$name.img.$compress" "$work/$name.img.bmap" "$work/SHA256SUMS" "$work/build.txt" "$result.new/"
mv "$result.new" "$result"
log "made in $(($(now) - t0)) s: $(cat "$result/build.txt" | tr '\n' ' ')"
publish
