# Helpers of the v86 tier, run by the guest's busybox sh (. /pcipt/lib.sh). Output lines the host
# parses start with @@; values are hex (0x...) or decimal as named.

# Config byte/word/dword of a function from sysfs (little endian): pt_cfg BDF OFFSET SIZE
pt_cfg() {
  case $3 in
    1) hexdump -s $(($2)) -n 1 -e '1/1 "0x%02x"' /sys/bus/pci/devices/$1/config;;
    2) hexdump -s $(($2)) -n 2 -e '1/2 "0x%04x"' /sys/bus/pci/devices/$1/config;;
    4) hexdump -s $(($2)) -n 4 -e '1/4 "0x%08x"' /sys/bus/pci/devices/$1/config;;
  esac
}

# Every PCI function the kernel found: irq, full config space (hex), resources (start:end:flags per line).
pt_enum() {
  for d in /sys/bus/pci/devices/*; do
    echo "@@DEV bdf=${d##*/} irq=$(cat $d/irq) cfg=$(hexdump -v -e '1/1 "%02x"' $d/config) res=$(tr ' \n' ':,' < $d/resource)"
  done
  echo "@@ENUM_END"
}

# Start address of BAR n of a function: pt_bar BDF N
pt_bar() { sed -n "$(($2 + 1))p" /sys/bus/pci/devices/$1/resource | cut -d' ' -f1; }

# edu registers through devmem: id, liveness (reads ~written), factorial of 10 by the device.
pt_edu() {
  B=$(pt_bar $1 0)
  echo "@@EDU id=$(devmem $B 32)"
  devmem $((B + 4)) 32 0x12345678
  echo "@@EDU live1=$(devmem $((B + 4)) 32)"
  devmem $((B + 4)) 32 0x0000ffff
  echo "@@EDU live2=$(devmem $((B + 4)) 32)"
  devmem $((B + 8)) 32 10
  n=0
  while [ $(( $(devmem $((B + 0x20)) 32) & 1 )) -ne 0 ] && [ $n -lt 1000 ]; do n=$((n + 1)); done
  echo "@@EDU fact10=$(devmem $((B + 8)) 32) polls=$n"
}

# Binds a function to Debian's uio_pci_generic (driver_override: only this function).
pt_uio_bind() {
  [ -d /sys/bus/pci/drivers/uio_pci_generic ] || { insmod /lib/modules/uio.ko && insmod /lib/modules/uio_pci_generic.ko; }
  echo uio_pci_generic > /sys/bus/pci/devices/$1/driver_override
  echo $1 > /sys/bus/pci/drivers_probe
  u=$(ls /sys/bus/pci/devices/$1/uio 2>/dev/null)
  echo "@@UIO bound=$(basename $(readlink /sys/bus/pci/devices/$1/driver)) dev=$u irq=$(cat /sys/bus/pci/devices/$1/irq)"
}

# One INTx round on an edu bound to uio: wait on /dev/uioN, raise (edu 0x60), see the kernel's
# handler mask INTx in COMMAND, ack the device (edu 0x64), unmask through config space.
pt_uio_round() {
  B=$(pt_bar $1 0); u=$(ls /sys/bus/pci/devices/$1/uio)
  rm -f /tmp/uio.out
  ( dd if=/dev/$u bs=4 count=1 2>/dev/null | hexdump -e '1/4 "%d\n"' > /tmp/uio.out ) &
  P=$!
  sleep 0.3
  echo "@@ROUND $2 before cmd=$(pt_cfg $1 4 2) status=$(pt_cfg $1 6 2)"
  devmem $((B + 0x60)) 32 1
  wait $P
  echo "@@ROUND $2 irq count=$(cat /tmp/uio.out) cmd=$(pt_cfg $1 4 2) status=$(pt_cfg $1 6 2) irqstat=$(devmem $((B + 0x24)) 32)"
  devmem $((B + 0x64)) 32 1
  echo "@@ROUND $2 acked cmd=$(pt_cfg $1 4 2) status=$(pt_cfg $1 6 2)"
  c=$(( $(pt_cfg $1 4 2) & ~0x400 ))
  printf "$(printf '\\%03o\\%03o' $((c & 0xff)) $((c >> 8)))" | dd of=/sys/bus/pci/devices/$1/config bs=1 seek=4 count=2 conv=notrunc 2>/dev/null
  echo "@@ROUND $2 unmasked cmd=$(pt_cfg $1 4 2) status=$(pt_cfg $1 6 2) intr=$(grep uio_pci_generic /proc/interrupts | tr -s ' ')"
}

# The guest's clock in microseconds (busybox date has no %N; adjtimex reports tv_usec).
pt_now_us() { adjtimex | awk '/tv_sec/{s=$2} /tv_usec/{u=$2} END{printf "%d%06d\n", s, u}'; }

# Runs a command and prints how long it took on the guest's clock: pt_time CMD...  ->  @@TIME us=... status=...
pt_time() {
  t0=$(pt_now_us)
  "$@"
  s=$?
  t1=$(pt_now_us)
  echo "@@TIME us=$((t1 - t0)) status=$s"
}

# Port I/O through /dev/port: pt_inb PORT, pt_outl PORT VALUE (little endian), pt_inl PORT
pt_inb() { dd if=/dev/port bs=1 skip=$(($1)) count=1 2>/dev/null | hexdump -v -e '1/1 "0x%02x"'; }
pt_inl() { dd if=/dev/port bs=1 skip=$(($1)) count=4 2>/dev/null | hexdump -v -e '1/4 "0x%08x"'; }
pt_outl() {
  v=$(($2))
  printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $((v & 0xff)) $(((v >> 8) & 0xff)) $(((v >> 16) & 0xff)) $(((v >> 24) & 0xff)))" | dd of=/dev/port bs=1 seek=$(($1)) count=4 conv=notrunc 2>/dev/null
}
