#!/bin/bash
# run-in-guest.sh: boot a throw-away Linux guest under QEMU (TCG) with one or
# more QEMU "edu" PCI devices bound to vfio-pci, run a command inside it with
# the host's filesystem visible, print the command's output and exit with its
# exit status.
#
#   run-in-guest.sh [options] [--] command [args...]
#
# Inside the guest:
#   * / is an overlay: host root (9p, read-only) + tmpfs upper layer, so the
#     guest sees every host file and can write anywhere, but writes are lost
#     (except in --rw directories, which are shared read-write with the host);
#   * the command runs as root in the host's current directory, with PATH,
#     HOME=/root and TERM=dumb (plus --env variables), stdin = /dev/null;
#   * every edu device (1234:11e8) is bound to vfio-pci; with the default
#     --iommu noiommu the groups are /dev/vfio/noiommu-N (needs the rebuilt
#     vfio.ko, see build-noiommu-vfio.sh, built automatically on first use);
#     with --iommu intel QEMU emulates a VT-d IOMMU and the groups are
#     /dev/vfio/N (VFIO_TYPE1v2_IOMMU).
#
# Options:
#   --edu N            number of edu devices, each in its own slot (default 1)
#   --edu-mf           put two edu devices as functions 0 and 1 of one slot
#                      (multifunction); adds to --edu
#   --edu-opts OPTS    extra properties for every edu device, e.g. dma_mask=0xffffffff
#   --iommu MODE       intel (default: emulated VT-d, stock modules) | noiommu (rebuilds vfio.ko, needs linux-source) | none
#   --rw DIR           share host DIR read-write at the same path (repeatable)
#   --env K=V          set an environment variable for the command (repeatable)
#   --mem MB           guest memory (default 2048)
#   --smp N            guest CPUs (default: number of host CPUs, max 4)
#   --timeout S        kill QEMU after S seconds (default 900)
#   --verbose          show the guest kernel log and init progress on stdout
#   --console-log FILE save the guest kernel log + init messages to FILE
#   --qemu-arg ARG     extra QEMU argument (repeatable)
#   --kernel FILE      kernel to boot (default: the vmlinux extracted from
#                      /boot/vmlinuz-KVER into the cache, booted via PVH;
#                      /boot/vmlinuz-KVER itself also works, ~3 s slower)
# Environment: PCIPT_VM_CACHE (default ${TMPDIR:-/tmp}/pcipt-vm/cache), VFIOVM_KVER,
#   PCIPT_VM_PARALLEL=1 (let guests run at the same time; by default one waits for the other).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${PCIPT_VM_CACHE:-${VFIOVM_CACHE:-${TMPDIR:-/tmp}/pcipt-vm/cache}}
KVER=${VFIOVM_KVER:-$(ls /lib/modules | sort -V | tail -1)}
NEDU=1; EDU_MF=0; EDU_OPTS=""; IOMMU=intel; MEM=2048; TIMEOUT=900; VERBOSE=0
SMP=$(nproc); [ "$SMP" -gt 4 ] && SMP=4
RW=(); ENVS=(); QARGS=(); KERNEL_OVERRIDE=""; KLOG=""
while [ $# -gt 0 ]; do
  case "$1" in
    --edu) NEDU=$2; shift 2;;
    --edu-mf) EDU_MF=1; shift;;
    --edu-opts) EDU_OPTS=",$2"; shift 2;;
    --iommu) IOMMU=$2; shift 2;;
    --rw) RW+=("$(cd "$2" && pwd)"); shift 2;;
    --env) ENVS+=("$2"); shift 2;;
    --mem) MEM=$2; shift 2;;
    --smp) SMP=$2; shift 2;;
    --timeout) TIMEOUT=$2; shift 2;;
    --verbose) VERBOSE=1; shift;;
    --qemu-arg) QARGS+=("$2"); shift 2;;
    --kernel) KERNEL_OVERRIDE=$2; shift 2;;
    --console-log) KLOG=$2; shift 2;;
    --) shift; break;;
    -*) echo "unknown option $1" >&2; exit 2;;
    *) break;;
  esac
done
[ $# -gt 0 ] || { sed -n '2,40p' "$0" >&2; exit 2; }
T_START=$(date +%s.%N)

mkdir -p "$CACHE"
# one-time artefacts (vmlinux, initramfs, no-IOMMU vfio.ko) are built under a lock
# so that parallel runs do not race
exec 9>"$CACHE/.lock"
flock 9
[ -r "/boot/vmlinuz-$KVER" ] || { echo "no /boot/vmlinuz-$KVER (apt-get install linux-image-amd64)" >&2; exit 2; }
# Booting the uncompressed ELF vmlinux through its PVH entry point saves ~3 s
# per run under TCG (no SeaBIOS bzImage path, no xz decompression in the guest).
VMLINUX=$CACHE/vmlinux-$KVER
if [ -z "$KERNEL_OVERRIDE" ] && [ ! -s "$VMLINUX" ]; then
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "/boot/vmlinuz-$KVER" | head -1 | cut -d: -f1 || true)
  if [ -n "$off" ] && { tail -c +$((off + 1)) "/boot/vmlinuz-$KVER" || true; } | xz -dc --single-stream > "$VMLINUX.tmp" 2>/dev/null \
     && readelf -n "$VMLINUX.tmp" 2>/dev/null | grep -q "Xen.*0x00000012\|Unknown note type: (0x00000012)"; then
    mv "$VMLINUX.tmp" "$VMLINUX"
  else
    rm -f "$VMLINUX.tmp"; echo "[run-in-guest] could not extract a PVH vmlinux; booting the bzImage" >&2
    VMLINUX=/boot/vmlinuz-$KVER
  fi
fi
KERNEL=${KERNEL_OVERRIDE:-$VMLINUX}
INITRD=$CACHE/initramfs-$KVER.cpio.gz
if [ ! -s "$INITRD" ] || [ "$HERE/init.sh" -nt "$INITRD" ] || [ "$HERE/build-initramfs.sh" -nt "$INITRD" ]; then
  "$HERE/build-initramfs.sh" "$INITRD" "$KVER" >&2
fi
# ttyS0 = QEMU stdio = the command's output; ttyS1 = file: kernel log + init
# messages (shown on stdio too with --verbose)
if [ "$VERBOSE" = 1 ]; then CONSOLE=ttyS0; else CONSOLE=ttyS1; fi
# tsc clocksource: under TCG the default (hpet) makes every clock read an emulated MMIO access
# (~1 µs), which would dominate the latency benchmarks.
APPEND="console=$CONSOLE panic=-1 clocksource=tsc tsc=reliable no_timer_check vfiovm.vfio=$IOMMU vfiovm.verbose=$VERBOSE"
if [ "$IOMMU" = noiommu ]; then
  MODDIR=$CACHE/vfio-noiommu-$KVER
  if [ ! -s "$MODDIR/vfio.ko" ]; then
    echo "[run-in-guest] building vfio.ko with CONFIG_VFIO_NOIOMMU into $MODDIR" >&2
    "$HERE/build-noiommu-vfio.sh" "$MODDIR" "$KVER" >&2
  fi
  APPEND="$APPEND vfiovm.moddir=$MODDIR"
fi

flock -u 9; exec 9>&-

# One guest at a time (unless PCIPT_VM_PARALLEL=1): two TCG guests on a 2-core host slow each
# other past the in-guest deadlines (a device worker's start under TCG is already ~10 s). The
# lock is held until this script exits; the QEMU --timeout starts after it is taken.
if [ "${PCIPT_VM_PARALLEL:-0}" != 1 ]; then
  exec 8>"$CACHE/.run.lock"
  if ! flock -n 8; then
    echo "[run-in-guest] waiting for another guest to finish" >&2
    flock 8
  fi
fi

CTL=$(mktemp -d "$CACHE/run.XXXXXX")
QPID=""
cleanup() { [ -n "$QPID" ] && kill "$QPID" 2>/dev/null; rm -rf "$CTL"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
{
  echo "cd $(printf %q "$PWD") 2>/dev/null || cd /"
  for e in "${ENVS[@]+"${ENVS[@]}"}"; do echo "export $(printf %q "$e")"; done
  printf '%q ' "$@"; echo
} > "$CTL/cmd.sh"

Q=(qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -cpu max -smp "$SMP" -m "$MEM"
   -nodefaults -display none -no-reboot -monitor none
   -serial stdio -serial "file:$CTL/console.log"
   -kernel "$KERNEL" -initrd "$INITRD")
if [ "$IOMMU" = intel ]; then
  Q+=(-device intel-iommu)
  APPEND="$APPEND intel_iommu=on"
fi
Q+=(-append "$APPEND"
   -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap
   -virtfs "local,path=$CTL,mount_tag=vmctl,security_model=none")
RWLIST=""
for i in "${!RW[@]}"; do
  Q+=(-virtfs "local,path=${RW[$i]},mount_tag=rw$i,security_model=none,multidevs=remap")
  RWLIST="$RWLIST${RWLIST:+,}${RW[$i]}"
done
if [ -n "$RWLIST" ]; then
  for j in "${!Q[@]}"; do [ "${Q[$j]}" = "-append" ] && Q[$((j+1))]="${Q[$((j+1))]} vfiovm.rw=$RWLIST"; done
fi
for ((i = 0; i < NEDU; i++)); do Q+=(-device "edu,addr=$(printf '0x%x' $((0x10 + i))).0$EDU_OPTS"); done
if [ "$EDU_MF" = 1 ]; then
  Q+=(-device "edu,addr=0x18.0,multifunction=on$EDU_OPTS" -device "edu,addr=0x18.1$EDU_OPTS")
fi
Q+=("${QARGS[@]+"${QARGS[@]}"}")
[ "$VERBOSE" = 1 ] && echo "[run-in-guest] ${Q[*]}" >&2

timeout --foreground -k 5 "$TIMEOUT" "${Q[@]}" </dev/null &
QPID=$!
set +e
wait $QPID; QRC=$?
QPID=""
set -e
T_END=$(date +%s.%N)
[ -n "$KLOG" ] && cp "$CTL/console.log" "$KLOG" 2>/dev/null
if [ -f "$CTL/rc" ]; then
  RC=$(cat "$CTL/rc")
else
  echo "[run-in-guest] no exit status from the guest (qemu exit status $QRC; 124 = timeout); guest console log:" >&2
  tail -n 40 "$CTL/console.log" >&2 2>/dev/null || true
  RC=125
fi
awk -v s="$T_START" -v e="$T_END" -v r="$(cat "$CTL/t_ready" 2>/dev/null || echo '?')" \
    -v d="$(cat "$CTL/t_done" 2>/dev/null || echo '?')" -v rc="$RC" \
  'BEGIN { printf "[run-in-guest] exit status %s; wall %.1fs; guest: userspace ready at %ss, command done at %ss (guest clock)\n", rc, e - s, r, d }' >&2
exit "$RC"
