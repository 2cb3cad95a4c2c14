# The cross image for armv7-unknown-linux-gnueabihf (Cross.toml): Debian bookworm with its
# armhf cross gcc, and at /sysroot an extracted bookworm armhf sysroot carrying
# webkit2gtk-4.1 and GTK 3, made by cross/sysroot.sh from this image's own apt sources.
# Build context: cross/. (gcc: the host linker for build scripts and proc macros.)
FROM debian:bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends mmdebstrap ca-certificates pkg-config gcc libc6-dev \
      gcc-arm-linux-gnueabihf libc6-dev-armhf-cross \
 && rm -rf /var/lib/apt/lists/*

COPY sysroot.sh apt-sources.sh /opt/vitrine-cross/
COPY packages/ /opt/vitrine-cross/packages/
RUN /opt/vitrine-cross/sysroot.sh armv7 /sysroot

# What cross/build.sh exports, for this image's sysroot.
ENV PKG_CONFIG_ALLOW_CROSS=1 \
    PKG_CONFIG_SYSROOT_DIR=/sysroot \
    PKG_CONFIG_LIBDIR=/sysroot/usr/lib/arm-linux-gnueabihf/pkgconfig:/sysroot/usr/share/pkgconfig \
    CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc \
    CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUSTFLAGS="-C link-arg=--sysroot=/sysroot" \
    CC_armv7_unknown_linux_gnueabihf=arm-linux-gnueabihf-gcc \
    AR_armv7_unknown_linux_gnueabihf=arm-linux-gnueabihf-ar \
    CFLAGS_armv7_unknown_linux_gnueabihf=--sysroot=/sysroot
