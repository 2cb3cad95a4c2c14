#!/usr/bin/env bash
# Cross-compiles Vitrine for a Raspberry Pi without Docker: the target's libraries come
# from a sysroot made by cross/sysroot.sh, the compiler and linker from Debian's cross
# gcc (gcc-aarch64-linux-gnu, gcc-arm-linux-gnueabihf).
#
#   cross/build.sh aarch64|armv7 [extra cargo build arguments]
#
# The sysroot is $VITRINE_SYSROOT when set, else target/cross/sysroot-<arch>, made on
# first use (about 40 s, 1.1 GB). The build goes to target/cross/<triple>/release/vitrine
# (CARGO_TARGET_DIR=target/cross, apart from the native build). Prints the binary's path.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

case "${1:-}" in
  aarch64 | arm64 | aarch64-unknown-linux-gnu)
    target=aarch64-unknown-linux-gnu triplet=aarch64-linux-gnu debarch=arm64 ;;
  armv7 | armhf | armv7-unknown-linux-gnueabihf)
    target=armv7-unknown-linux-gnueabihf triplet=arm-linux-gnueabihf debarch=armhf ;;
  *)
    echo "usage: $0 aarch64|armv7 [cargo build arguments]" >&2
    exit 2
    ;;
esac
shift

sysroot="${VITRINE_SYSROOT:-$root/target/cross/sysroot-$debarch}"
if [ ! -f "$sysroot/.vitrine-sysroot" ]; then
  [ -e "$sysroot" ] && {
    echo "build: $sysroot is not a sysroot made by cross/sysroot.sh" >&2
    exit 1
  }
  "$root/cross/sysroot.sh" "$debarch" "$sysroot"
fi
sysroot="$(cd "$sysroot" && pwd)"
command -v "$triplet-gcc" >/dev/null || {
  echo "build: $triplet-gcc is missing (apt-get install gcc-$triplet)" >&2
  exit 1
}
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi

# What pkg-config, the linker and the cc crate (bundled SQLite) need to build for the
# target against the sysroot.
upper="$(echo "$target" | tr 'a-z-' 'A-Z_')"
lower="$(echo "$target" | tr '-' '_')"
export PKG_CONFIG_ALLOW_CROSS=1
export PKG_CONFIG_SYSROOT_DIR="$sysroot"
export PKG_CONFIG_LIBDIR="$sysroot/usr/lib/$triplet/pkgconfig:$sysroot/usr/share/pkgconfig"
unset PKG_CONFIG_PATH
export "CARGO_TARGET_${upper}_LINKER=$triplet-gcc"
export "CARGO_TARGET_${upper}_RUSTFLAGS=-C link-arg=--sysroot=$sysroot"
export "CC_${lower}=$triplet-gcc"
export "AR_${lower}=$triplet-ar"
export "CFLAGS_${lower}=--sysroot=$sysroot"
export CARGO_TARGET_DIR="$root/target/cross"

cd "$root"
cargo build --release --locked --target "$target" "$@" >&2
echo "$CARGO_TARGET_DIR/$target/release/vitrine"
