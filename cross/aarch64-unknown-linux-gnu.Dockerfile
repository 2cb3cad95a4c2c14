# The cross image for aarch64-unknown-linux-gnu (Cross.toml): Debian bookworm with its
# aarch64 cross gcc, and at /sysroot an extracted bookworm arm64 sysroot carrying
# webkit2gtk-4.1 and GTK 3, made by cross/sysroot.sh from this image's own apt sources.
# Build context: cross/. (gcc: the host linker for build scripts and proc macros.)
FROM debian:bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends mmdebstrap ca-certificates pkg-config gcc libc6-dev \
      gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
 && rm -rf /var/lib/apt/lists/*

COPY sysroot.sh apt-sources.sh /opt/vitrine-cross/
COPY packages/ /opt/vitrine-cross/packages/
RUN /opt/vitrine-cross/sysroot.sh aarch64 /sysroot

# What cross/build.sh exports, for this image's sysroot.
ENV PKG_CONFIG_ALLOW_CROSS=1 \
    PKG_CONFIG_SYSROOT_DIR=/sysroot \
    PKG_CONFIG_LIBDIR=/sysroot/usr/lib/aarch64-linux-gnu/pkgconfig:/sysroot/usr/share/pkgconfig \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C link-arg=--sysroot=/sysroot" \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
    AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
    CFLAGS_aarch64_unknown_linux_gnu=--sysroot=/sysroot
