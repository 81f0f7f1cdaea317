#!/bin/bash
# Prepares the guest of the v86 tier (and of `pcipt guest` examples): Debian's i386 (686, non-PAE)
# kernel and a busybox initramfs with uio + uio_pci_generic and the tier's scripts.
#
#   prepare.sh [--setup] [OUT_DIR]      (default OUT_DIR: ${PCIPT_GUEST_DIR:-${TMPDIR:-/tmp}/pcipt-guest})
#
# --setup (root, CI): dpkg --add-architecture i386, apt-get update, apt-get install seabios.
# Without it the machine's apt must already know i386 (the script says so and exits 3).
# Output: OUT_DIR/vmlinuz, OUT_DIR/initrd.cpio.gz, OUT_DIR/stamp (kernel package + harness hash).
# Idempotent: does nothing when the stamp matches. Touches only apt state (with --setup) and OUT_DIR.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SETUP=0
if [ "${1:-}" = "--setup" ]; then SETUP=1; shift; fi
OUT=${1:-${PCIPT_GUEST_DIR:-${TMPDIR:-/tmp}/pcipt-guest}}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

if [ "$SETUP" = 1 ]; then
  dpkg --print-foreign-architectures | grep -qx i386 || dpkg --add-architecture i386
  apt-get update -qq
  dpkg -s seabios >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends seabios >/dev/null
fi
if ! dpkg --print-foreign-architectures | grep -qx i386; then
  echo "prepare.sh: apt does not know the i386 architecture; run as root: $0 --setup (dpkg --add-architecture i386 && apt-get update)" >&2
  exit 3
fi

# The kernel's ABI name changes with Debian updates: resolve it through the metapackage.
KPKG=$(apt-cache depends linux-image-686:i386 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
if [ -z "$KPKG" ]; then
  echo "prepare.sh: apt-cache knows no linux-image-686:i386 (run apt-get update after adding i386)" >&2
  exit 3
fi
HASH=$(cat "$HERE/init.sh" "$HERE/pcipt-lib.sh" "$0" | sha256sum | cut -c1-16)
STAMP="$KPKG $HASH"
if [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$STAMP" ] && [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initrd.cpio.gz" ]; then
  echo "prepare.sh: up to date ($STAMP) in $OUT" >&2
  exit 0
fi

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/debs" "$W/kx" "$W/bb" "$W/root/bin" "$W/root/lib/modules" "$W/root/pcipt"
( cd "$W/debs" && apt-get download -q "${KPKG%:i386}:i386" busybox-static:i386 >/dev/null )
dpkg-deb -x "$W"/debs/linux-image-*_i386.deb "$W/kx"
dpkg-deb -x "$W"/debs/busybox-static_*_i386.deb "$W/bb"
KV=$(ls "$W/kx/lib/modules")
for m in uio uio_pci_generic; do
  f=$(find "$W/kx/lib/modules/$KV" -name "$m.ko*" | head -1)
  case "$f" in
    *.ko) cp "$f" "$W/root/lib/modules/$m.ko";;
    *.ko.xz) xz -dc "$f" > "$W/root/lib/modules/$m.ko";;
    *) echo "prepare.sh: module $m not found as .ko/.ko.xz in $KPKG" >&2; exit 1;;
  esac
done
cp "$W/bb/bin/busybox" "$W/root/bin/busybox"
install -m 755 "$HERE/init.sh" "$W/root/init"
install -m 644 "$HERE/pcipt-lib.sh" "$W/root/pcipt/lib.sh"
( cd "$W/root" && find . | cpio -o -H newc --quiet | gzip -9 ) > "$OUT/initrd.cpio.gz.tmp"
cp "$W"/kx/boot/vmlinuz-* "$OUT/vmlinuz.tmp"
mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
mv "$OUT/initrd.cpio.gz.tmp" "$OUT/initrd.cpio.gz"
echo "$STAMP" > "$OUT/stamp"
echo "prepare.sh: $KPKG ($KV) -> $OUT/vmlinuz ($(du -h "$OUT/vmlinuz" | cut -f1)), initrd.cpio.gz ($(du -h "$OUT/initrd.cpio.gz" | cut -f1))" >&2
