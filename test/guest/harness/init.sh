#!/bin/busybox sh
# /init of the v86 tier's initramfs: mounts, prints the ready marker, then an interactive shell on the
# serial console (the host sends commands with serial0_send and waits for markers in the output).
/bin/busybox mkdir -p /proc /sys /dev /sbin /usr/bin /usr/sbin /tmp
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
stty -echo 2>/dev/null
export PS1=''
echo "@@PCIPT_GUEST_READY@@ uptime=$(cut -d' ' -f1 /proc/uptime)"
exec sh
