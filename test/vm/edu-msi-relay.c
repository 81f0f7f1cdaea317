// edu-msi-relay.c: the supervisor path's shape in C, for bench/vm-msi.ts. Opens one edu through
// VFIO type1 (as edu-msi-bench.c does), routes MSI vector 0 to an eventfd, and starts a relay
// thread that blocks in poll() on that eventfd, reads it, sets a pending word, bumps a sequence
// word and FUTEX_WAKEs it (what pcipt's IRQ pump thread does to an IrqLine). The timing thread
// writes the edu raise register, waits on the sequence word with FUTEX_WAIT (finite timeout),
// clears the pending word and acks. Prints one JSON line:
//   {"impl":"c-relay","n":N,"p50Ns":..,"p99Ns":..,"meanNs":..,"lost":..}
// So the C floor of a cross-thread hand-off on the same guest is measured beside pcipt.
// Build: gcc -O2 -Wall -pthread -o edu-msi-relay edu-msi-relay.c      Usage: edu-msi-relay [N] [BDF]
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/vfio.h>

#define DIE(...) do { fprintf(stderr, __VA_ARGS__); fprintf(stderr, ": %s\n", strerror(errno)); exit(2); } while (0)
static uint64_t now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec; }
static int cmp(const void *a, const void *b) { uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b; return x < y ? -1 : x > y; }

static _Atomic uint32_t seq, pending, waiters, stop;
static int efd, wakefd;

static long futex(_Atomic uint32_t *w, int op, uint32_t v, const struct timespec *ts) {
    return syscall(SYS_futex, (uint32_t *)w, op, v, ts, NULL, 0);
}

static void *relay(void *arg) {
    (void)arg;
    struct pollfd p[2] = { { .fd = efd, .events = POLLIN }, { .fd = wakefd, .events = POLLIN } };
    uint64_t cnt;
    while (!atomic_load(&stop)) {
        if (poll(p, 2, 500) <= 0) continue;
        if ((p[0].revents & POLLIN) && read(efd, &cnt, 8) == 8) {
            atomic_fetch_or(&pending, 1);
            atomic_fetch_add(&seq, 1);
            if (atomic_load(&waiters)) futex(&seq, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
        }
        if (p[1].revents & POLLIN) read(wakefd, &cnt, 8);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    const char *bdf = argc > 2 ? argv[2] : "0000:00:10.0";
    char path[PATH_MAX], link[PATH_MAX];
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/iommu_group", bdf);
    ssize_t l = readlink(path, link, sizeof link - 1);
    if (l < 0) DIE("readlink %s", path);
    link[l] = 0;
    snprintf(path, sizeof path, "/dev/vfio/%s", strrchr(link, '/') + 1);
    int group = open(path, O_RDWR), container = open("/dev/vfio/vfio", O_RDWR);
    if (group < 0 || container < 0) DIE("open %s", path);
    if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container)) DIE("SET_CONTAINER");
    if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) DIE("SET_IOMMU");
    int dev = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
    if (dev < 0) DIE("GET_DEVICE_FD");
    struct vfio_region_info cfg = { .argsz = sizeof cfg, .index = VFIO_PCI_CONFIG_REGION_INDEX };
    struct vfio_region_info bar = { .argsz = sizeof bar, .index = VFIO_PCI_BAR0_REGION_INDEX };
    if (ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &cfg) || ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &bar)) DIE("REGION_INFO");
    uint16_t cmd = 0;
    pread(dev, &cmd, 2, cfg.offset + 4);
    cmd |= 6;  // memory + bus master (MSI needs bus master)
    pwrite(dev, &cmd, 2, cfg.offset + 4);
    volatile uint32_t *b = mmap(NULL, bar.size, PROT_READ | PROT_WRITE, MAP_SHARED, dev, bar.offset);
    if (b == MAP_FAILED) DIE("mmap");
    efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    char buf[sizeof(struct vfio_irq_set) + 4];
    struct vfio_irq_set *is = (struct vfio_irq_set *)buf;
    is->argsz = sizeof buf; is->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    is->index = VFIO_PCI_MSI_IRQ_INDEX; is->start = 0; is->count = 1;
    memcpy(is->data, &efd, 4);
    if (ioctl(dev, VFIO_DEVICE_SET_IRQS, is)) DIE("SET_IRQS");
    pthread_t t;
    if (pthread_create(&t, NULL, relay, NULL)) DIE("pthread_create");
    uint64_t *lat = calloc(n, sizeof *lat);
    int lost = 0, warm = n / 10 + 10;
    struct timespec second = { .tv_sec = 1 };
    for (int i = -warm; i < n; i++) {
        uint32_t s = atomic_load(&seq);
        uint64_t t0 = now_ns();
        b[0x60 / 4] = 1;
        if (atomic_load(&seq) == s) {
            atomic_fetch_add(&waiters, 1);
            while (atomic_load(&seq) == s)
                if (futex(&seq, FUTEX_WAIT_PRIVATE, s, &second) == -1 && errno == ETIMEDOUT) break;
            atomic_fetch_sub(&waiters, 1);
        }
        if (atomic_load(&seq) == s) lost++;
        atomic_exchange(&pending, 0);
        b[0x64 / 4] = 1;
        uint64_t t1 = now_ns();
        if (i >= 0) lat[i] = t1 - t0;
    }
    atomic_store(&stop, 1);
    uint64_t one = 1;
    write(wakefd, &one, 8);
    pthread_join(t, NULL);
    qsort(lat, n, sizeof *lat, cmp);
    double mean = 0;
    for (int i = 0; i < n; i++) mean += lat[i];
    printf("{\"impl\":\"c-relay\",\"n\":%d,\"p50Ns\":%llu,\"p99Ns\":%llu,\"meanNs\":%.0f,\"lost\":%d}\n", n,
           (unsigned long long)lat[n / 2], (unsigned long long)lat[(int)(n * 0.99)], mean / n, lost);
    return 0;
}
