#!/bin/bash
# Debian 12's kernel is built with "# CONFIG_VFIO_NOIOMMU is not set", so
# vfio.ko has no enable_unsafe_noiommu_mode parameter. This rebuilds ONLY
# vfio.ko (vfio_main.c, container.c, iova_bitmap.c) from the matching Debian
# linux-source package with CONFIG_VFIO_NOIOMMU defined, out of tree, against
# linux-headers-$KVER. Debian's own vfio_iommu_type1/vfio-pci-core/vfio-pci
# modules load on top of it (exported-symbol CRCs are unchanged).
# Needs: linux-source-6.1 (same version as the kernel), linux-headers-$KVER, gcc, make.
# Usage: build-noiommu-vfio.sh OUTDIR [KVER]
set -euo pipefail
OUT=${1:?outdir}; KVER=${2:-6.1.0-56-amd64}
SRC_TAR=$(ls /usr/src/linux-source-*.tar.xz | head -1)
mkdir -p "${TMPDIR:-/tmp}/pcipt-vm"; W=$(mktemp -d "${TMPDIR:-/tmp}/pcipt-vm/vfiobuild.XXXX")
top=$(basename "$SRC_TAR" .tar.xz)   # e.g. linux-source-6.1
tar -xJf "$SRC_TAR" -C "$W" "$top/drivers/vfio"
B="$W/$top/drivers/vfio"
cat > "$B/Kbuild" <<'K'
ccflags-y += -DCONFIG_VFIO_NOIOMMU=1
vfio-y := vfio_main.o iova_bitmap.o container.o
obj-m += vfio.o
K
rm -f "$B/Makefile"
make -s -C /lib/modules/$KVER/build M="$B" modules
mkdir -p "$OUT"
cp "$B/vfio.ko" "$OUT/"
# the remaining VFIO modules are Debian's own, copied next to it
M=/lib/modules/$KVER/kernel/drivers/vfio
cp $M/vfio_iommu_type1.ko $M/vfio_virqfd.ko $M/pci/vfio-pci-core.ko $M/pci/vfio-pci.ko "$OUT/"
modinfo "$OUT/vfio.ko" | grep -E "^(vermagic|parm)"
rm -rf "$W"
