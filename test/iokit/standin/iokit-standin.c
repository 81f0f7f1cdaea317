/*
 * iokit-standin.c: a C stand-in for the slice of IOKit, CoreFoundation and
 * libSystem (mach) that pcipt's IOKit backend binds through koffi, plus the
 * VFIOUserPCIDriver dext behind it (spec/dext-protocol.md §2-6).
 *
 * Every export has the real macOS signature, so the TypeScript prototypes in
 * src/iokit/bindings.ts are exercised exactly as they will be on a Mac. The
 * stand-in validates what it is given (NULL pointers, counts, struct sizes,
 * magic numbers of the objects it handed out) and answers kIOReturnBadArgument
 * for a malformed call; each such violation is counted (standin_violations)
 * and described (standin_last_violation) so a test fails on a wrong
 * prototype. With STANDIN_STRICT=1 in the environment it aborts instead.
 *
 * Model: three IOUserService objects (one of another class, two
 * VFIOUserPCIDriver instances 03:00.0 and 04:00.0), each dext instance over a
 * tiny PCI function: 4096 bytes of config space with an MSI capability
 * (8 vectors), BAR0 = 16 KiB mem32, BAR2/3 = 16 KiB 64-bit prefetchable,
 * both plain mmap'd memory. IOPCIDevice objects (for list-devices) are the
 * parents of the dext instances plus a root port ("pcic0-bridge") and an
 * unbound function; the root port's parent is a host bridge (not an
 * IOPCIDevice). standin_set_twin(1) adds a second root ("pcic1-bridge") with
 * another 04:00.0 bound to the dext: the same BDF under two host roots, as
 * Apple Silicon has (spec §9, [G] host-root).
 *
 * Like the real dext (VFIOUserPCIDriver.cpp, [G]): 64 DMA chunks per region,
 * interrupt state per user client (each connection sets up its own page and
 * completion), AllocateDMABuffer's last output is the class code, and the
 * WaitInterrupt completion arrives as the kernel sends async results
 * (msgh_id kOSNotificationMessageID = 53, notification type 150).
 *
 * Mach ports are modelled as integer names with a mutex + condition variable
 * message queue: mach_msg(SEND) enqueues a copy, mach_msg(RCV) dequeues with
 * an optional timeout. A raised interrupt completes the armed async
 * WaitInterrupt by posting an OSNotificationHeader64 completion message to
 * the notification port, as IOKit does.
 *
 * Build: cc -shared -fPIC -O2 -pthread -o libiokit-standin.so iokit-standin.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

typedef int kern_return_t;
typedef uint32_t mach_port_t;
typedef uint32_t io_object_t;
typedef uint32_t IOOptionBits;
typedef long CFIndex;
typedef unsigned long CFTypeID;

#define kIOReturnSuccess 0
#define kIOReturnError ((kern_return_t)0xe00002bc)
#define kIOReturnNoMemory ((kern_return_t)0xe00002bd)
#define kIOReturnBadArgument ((kern_return_t)0xe00002c2)
#define kIOReturnUnsupported ((kern_return_t)0xe00002c7)
#define kIOReturnNotOpen ((kern_return_t)0xe00002cd)
#define kIOReturnNotAligned ((kern_return_t)0xe00002d0)
#define kIOReturnStillOpen ((kern_return_t)0xe00002d2)
#define kIOReturnNotReady ((kern_return_t)0xe00002d8)
#define kIOReturnNotAttached ((kern_return_t)0xe00002d9)
#define kIOReturnNoSpace ((kern_return_t)0xe00002db)
#define kIOReturnOverrun ((kern_return_t)0xe00002e8)
#define kIOReturnNotFound ((kern_return_t)0xe00002f0)

#define MACH_SEND_MSG 0x1
#define MACH_RCV_MSG 0x2
#define MACH_SEND_TIMEOUT 0x10
#define MACH_RCV_TIMEOUT 0x100
#define MACH_SEND_INVALID_DEST 0x10000003
#define MACH_SEND_TIMED_OUT 0x10000004
#define MACH_SEND_MSG_TOO_SMALL 0x10000008
#define MACH_RCV_INVALID_NAME 0x10004002
#define MACH_RCV_TIMED_OUT 0x10004003
#define MACH_RCV_TOO_LARGE 0x10004004
#define MACH_MSG_TYPE_COPY_SEND 19
#define MACH_MSG_TYPE_MAKE_SEND 20
#define kOSNotificationMessageID 53
#define kIOAsyncCompletionNotificationType 150
#define kOSAsyncRef64Count 8

#define kCFStringEncodingUTF8 0x08000100u
#define kIOMapAnywhere 0x1u
#define kIOMapCacheMask 0x700u
#define kIOMapWriteCombineCache 0x400u

#define PAGE16K 16384u
#define BAR_BYTES 16384u
#define CFG_BYTES 4096u
#define MSI_CAP 0x50u

typedef struct {
  uint32_t msgh_bits;
  uint32_t msgh_size;
  mach_port_t msgh_remote_port;
  mach_port_t msgh_local_port;
  mach_port_t msgh_voucher_port;
  int32_t msgh_id;
} mach_msg_header_t;

/* ---------------------------------------------------------------- errors */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned g_violations;
static char g_last_violation[256];

static kern_return_t violation(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_last_violation, sizeof g_last_violation, fmt, ap);
  va_end(ap);
  __atomic_add_fetch(&g_violations, 1, __ATOMIC_SEQ_CST);
  const char *strict = getenv("STANDIN_STRICT");
  if (strict != NULL && strict[0] == '1') {
    fprintf(stderr, "iokit-standin: strict mode violation: %s\n", g_last_violation);
    abort();
  }
  return kIOReturnBadArgument;
}

/* ----------------------------------------------------------------- CF */

enum { CF_MAGIC = 0x43466f62, CF_STRING = 7, CF_DATA = 20, CF_DICT = 18 };
typedef struct {
  uint32_t magic;
  uint32_t type;
  int refs;
  size_t len;
  char bytes[];
} cfobj;
static int g_cf_live;

static cfobj *cf_new(uint32_t type, const void *bytes, size_t len) {
  cfobj *o = calloc(1, sizeof *o + len + 1);
  o->magic = CF_MAGIC;
  o->type = type;
  o->refs = 1;
  o->len = len;
  if (len) memcpy(o->bytes, bytes, len);
  __atomic_add_fetch(&g_cf_live, 1, __ATOMIC_SEQ_CST);
  return o;
}
static cfobj *cf_check(const void *p, const char *who) {
  const cfobj *o = p;
  if (o == NULL || o->magic != CF_MAGIC) {
    violation("%s: not a CF object (%p)", who, p);
    return NULL;
  }
  return (cfobj *)o;
}

void CFRelease(const void *cf) {
  cfobj *o = cf_check(cf, "CFRelease");
  if (o == NULL) return;
  if (--o->refs == 0) {
    o->magic = 0xdead;
    free(o);
    __atomic_sub_fetch(&g_cf_live, 1, __ATOMIC_SEQ_CST);
  }
}
CFTypeID CFGetTypeID(const void *cf) {
  cfobj *o = cf_check(cf, "CFGetTypeID");
  return o ? o->type : 0;
}
CFTypeID CFStringGetTypeID(void) { return CF_STRING; }
CFTypeID CFDataGetTypeID(void) { return CF_DATA; }
const void *CFStringCreateWithCString(const void *alloc, const char *cStr, uint32_t encoding) {
  if (alloc != NULL) { violation("CFStringCreateWithCString: allocator must be NULL (kCFAllocatorDefault)"); return NULL; }
  if (cStr == NULL) { violation("CFStringCreateWithCString: NULL string"); return NULL; }
  if (encoding != kCFStringEncodingUTF8) { violation("CFStringCreateWithCString: encoding 0x%x", encoding); return NULL; }
  return cf_new(CF_STRING, cStr, strlen(cStr));
}
unsigned char CFStringGetCString(const void *s, char *buffer, CFIndex bufferSize, uint32_t encoding) {
  cfobj *o = cf_check(s, "CFStringGetCString");
  if (o == NULL) return 0;
  if (o->type != CF_STRING) { violation("CFStringGetCString: not a string"); return 0; }
  if (buffer == NULL || bufferSize <= 0) { violation("CFStringGetCString: buffer %p size %ld", (void *)buffer, bufferSize); return 0; }
  if (encoding != kCFStringEncodingUTF8) { violation("CFStringGetCString: encoding 0x%x", encoding); return 0; }
  if ((CFIndex)o->len + 1 > bufferSize) return 0;
  memcpy(buffer, o->bytes, o->len + 1);
  return 1;
}
CFIndex CFDataGetLength(const void *d) {
  cfobj *o = cf_check(d, "CFDataGetLength");
  if (o == NULL || o->type != CF_DATA) { violation("CFDataGetLength: not data"); return 0; }
  return (CFIndex)o->len;
}
const uint8_t *CFDataGetBytePtr(const void *d) {
  cfobj *o = cf_check(d, "CFDataGetBytePtr");
  if (o == NULL || o->type != CF_DATA) { violation("CFDataGetBytePtr: not data"); return NULL; }
  return (const uint8_t *)o->bytes;
}

/* ------------------------------------------------------------- mach ports */

mach_port_t mach_task_self_ = 0x103; /* real macOS: a variable, mach_task_self() is a macro */

#define MAX_PORTS 64
#define PORT_BASE 0x5000u
#define QUEUE_LEN 16
#define MSG_MAX 512
typedef struct {
  int live;
  pthread_cond_t cond;
  int head, count;
  uint32_t sizes[QUEUE_LEN];
  uint8_t msgs[QUEUE_LEN][MSG_MAX];
} port_t;
static port_t g_ports[MAX_PORTS];

static port_t *port_lookup(mach_port_t name) {
  if (name < PORT_BASE || name >= PORT_BASE + MAX_PORTS) return NULL;
  port_t *p = &g_ports[name - PORT_BASE];
  return p->live ? p : NULL;
}
static mach_port_t port_alloc(void) {
  for (unsigned i = 0; i < MAX_PORTS; i++) {
    if (!g_ports[i].live) {
      g_ports[i].live = 1;
      g_ports[i].head = g_ports[i].count = 0;
      pthread_condattr_t a;
      pthread_condattr_init(&a);
      pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
      pthread_cond_init(&g_ports[i].cond, &a);
      return PORT_BASE + i;
    }
  }
  return 0;
}
/* Caller holds g_lock. Returns 0 or MACH_SEND_TIMED_OUT when the queue is full. */
static int port_enqueue(port_t *p, const void *msg, uint32_t size) {
  if (p->count == QUEUE_LEN) return MACH_SEND_TIMED_OUT;
  int slot = (p->head + p->count) % QUEUE_LEN;
  memcpy(p->msgs[slot], msg, size);
  p->sizes[slot] = size;
  p->count++;
  pthread_cond_broadcast(&p->cond);
  return 0;
}

int mach_msg(mach_msg_header_t *msg, int option, uint32_t send_size, uint32_t rcv_size, mach_port_t rcv_name,
             uint32_t timeout, mach_port_t notify) {
  if (msg == NULL) return violation("mach_msg: NULL message");
  if (notify != 0) return violation("mach_msg: notify port %u (expected MACH_PORT_NULL)", notify);
  if ((option & (MACH_SEND_MSG | MACH_RCV_MSG)) == 0) return violation("mach_msg: option 0x%x has neither SEND nor RCV", option);
  int rc = 0;
  pthread_mutex_lock(&g_lock);
  if (option & MACH_SEND_MSG) {
    if (send_size < sizeof(mach_msg_header_t) || send_size > MSG_MAX || send_size != msg->msgh_size || (send_size & 3)) {
      pthread_mutex_unlock(&g_lock);
      return violation("mach_msg: send_size %u vs msgh_size %u", send_size, msg->msgh_size);
    }
    uint32_t remote = msg->msgh_bits & 0x1f;
    if (remote != MACH_MSG_TYPE_MAKE_SEND && remote != MACH_MSG_TYPE_COPY_SEND) {
      pthread_mutex_unlock(&g_lock);
      return violation("mach_msg: msgh_bits 0x%x (remote disposition must be MAKE_SEND or COPY_SEND)", msg->msgh_bits);
    }
    port_t *p = port_lookup(msg->msgh_remote_port);
    if (p == NULL) {
      pthread_mutex_unlock(&g_lock);
      return MACH_SEND_INVALID_DEST;
    }
    if (!(option & MACH_SEND_TIMEOUT)) {
      pthread_mutex_unlock(&g_lock);
      return violation("mach_msg: a send without MACH_SEND_TIMEOUT could block forever");
    }
    rc = port_enqueue(p, msg, send_size);
    if (rc != 0 || !(option & MACH_RCV_MSG)) {
      pthread_mutex_unlock(&g_lock);
      return rc;
    }
  }
  /* receive */
  port_t *p = port_lookup(rcv_name);
  if (p == NULL) {
    pthread_mutex_unlock(&g_lock);
    return MACH_RCV_INVALID_NAME;
  }
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += timeout / 1000;
  deadline.tv_nsec += (long)(timeout % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) { deadline.tv_sec++; deadline.tv_nsec -= 1000000000L; }
  while (p->count == 0) {
    if (option & MACH_RCV_TIMEOUT) {
      if (timeout == 0 || pthread_cond_timedwait(&p->cond, &g_lock, &deadline) == ETIMEDOUT) {
        if (p->count == 0) { pthread_mutex_unlock(&g_lock); return MACH_RCV_TIMED_OUT; }
      }
    } else {
      pthread_cond_wait(&p->cond, &g_lock);
    }
    if (!p->live) { pthread_mutex_unlock(&g_lock); return MACH_RCV_INVALID_NAME; }
  }
  uint32_t size = p->sizes[p->head];
  if (rcv_size < size + 8) { /* room for the minimal trailer */
    pthread_mutex_unlock(&g_lock);
    return MACH_RCV_TOO_LARGE;
  }
  memcpy(msg, p->msgs[p->head], size);
  msg->msgh_size = size;
  msg->msgh_local_port = rcv_name;
  msg->msgh_remote_port = 0;
  uint32_t trailer[2] = {0, 8};
  memcpy((uint8_t *)msg + size, trailer, 8);
  p->head = (p->head + 1) % QUEUE_LEN;
  p->count--;
  pthread_mutex_unlock(&g_lock);
  return 0;
}

/* ----------------------------------------------------- notification ports */

enum { NPORT_MAGIC = 0x4e6f7450 };
typedef struct { uint32_t magic; mach_port_t port; } nport_t;
static int g_nports_live;

void *IONotificationPortCreate(mach_port_t mainPort) {
  if (mainPort != 0) { violation("IONotificationPortCreate: main port %u (expected kIOMainPortDefault = 0)", mainPort); return NULL; }
  pthread_mutex_lock(&g_lock);
  mach_port_t name = port_alloc();
  pthread_mutex_unlock(&g_lock);
  if (name == 0) return NULL;
  nport_t *n = calloc(1, sizeof *n);
  n->magic = NPORT_MAGIC;
  n->port = name;
  __atomic_add_fetch(&g_nports_live, 1, __ATOMIC_SEQ_CST);
  return n;
}
mach_port_t IONotificationPortGetMachPort(void *notify) {
  nport_t *n = notify;
  if (n == NULL || n->magic != NPORT_MAGIC) { violation("IONotificationPortGetMachPort: bad ref %p", notify); return 0; }
  return n->port;
}

/* -------------------------------------------------------- the dext model */

#define NDEV 3 /* the third is the twin 04:00.0 under the second root (standin_set_twin) */
#define MAX_CLIENTS 32
#define MAX_REGIONS_CAP 64
#define DEXT_MAX_CHUNKS 64 /* [G]: VFIO_USER_MAX_CLIENT_DMA_CHUNKS */

typedef struct {
  int live;
  uint64_t key, va, size, bus, chunks;
} region_t;

typedef struct client client_t;
typedef struct {
  uint8_t bus, dev, fn;
  uint16_t vendor, device;
  uint32_t class24;
  uint8_t cfg[CFG_BYTES];
  uint8_t *bar0, *bar2;
  int provider_claimed, refs;
  client_t *opener;
  unsigned resets;
} device_t;

struct client {
  int live;
  mach_port_t name;
  device_t *dev;
  int claimed;
  region_t regions[MAX_REGIONS_CAP];
  void *dma_buf;
  uint64_t dma_buf_bytes;
  int maps[8];
  uint64_t next_bus;
  /* Interrupt state, per user client as in the real dext's ivars. */
  int irq_setup;
  uint32_t nvectors;
  uint64_t *irq_page; /* pending[4] @0, enabled[4] @0x20 */
  int completion_armed;
  mach_port_t completion_port;
  uint64_t completion_ref[kOSAsyncRef64Count];
};

static device_t g_devs[NDEV];
static client_t g_clients[MAX_CLIENTS];
static int g_inited;
static kern_return_t g_fail[80]; /* one-shot injected failures: 0-17 selectors, 64 map, 65 open, 66 claim-open */
static unsigned g_mmio_count[2];
static unsigned g_mmio_last_width[2];
static uint32_t g_max_regions = MAX_REGIONS_CAP, g_max_chunks = DEXT_MAX_CHUNKS;
static int g_twin; /* standin_set_twin */
static uint64_t g_chunk_bytes = 1536ull * 1024 * 1024;
static uint32_t g_last_map_options[8];
static int g_opened_total, g_closed_total;

static void cfg_w(uint8_t *c, unsigned off, unsigned width, uint32_t v) {
  for (unsigned i = 0; i < width; i++) c[off + i] = (uint8_t)(v >> (8 * i));
}
static uint32_t cfg_r(const uint8_t *c, unsigned off, unsigned width) {
  uint32_t v = 0;
  for (unsigned i = 0; i < width; i++) v |= (uint32_t)c[off + i] << (8 * i);
  return v;
}

static void dev_reset_config(device_t *d) {
  memset(d->cfg, 0, CFG_BYTES);
  cfg_w(d->cfg, 0x00, 2, d->vendor);
  cfg_w(d->cfg, 0x02, 2, d->device);
  cfg_w(d->cfg, 0x06, 2, 0x0010); /* capability list */
  cfg_w(d->cfg, 0x08, 4, d->class24 << 8 | 0x01);
  cfg_w(d->cfg, 0x10, 4, 0xa0000000u);               /* BAR0 mem32 */
  cfg_w(d->cfg, 0x18, 4, 0x0000000cu);               /* BAR2 mem64 prefetch, low */
  cfg_w(d->cfg, 0x1c, 4, 0x00000006u);               /* BAR3 upper half */
  cfg_w(d->cfg, 0x34, 1, MSI_CAP);
  cfg_w(d->cfg, 0x3d, 1, 1);                          /* INTA */
  cfg_w(d->cfg, MSI_CAP + 0, 1, 0x05);               /* MSI cap id */
  cfg_w(d->cfg, MSI_CAP + 1, 1, 0x00);
  cfg_w(d->cfg, MSI_CAP + 2, 2, 0x0086);             /* 64-bit, MMC = 3 (8 vectors) */
}

static void init_once(void) {
  if (g_inited) return;
  g_inited = 1;
  for (int i = 0; i < NDEV; i++) {
    device_t *d = &g_devs[i];
    d->bus = (uint8_t)(i == 2 ? 4 : 3 + i);
    d->dev = 0;
    d->fn = 0;
    d->vendor = 0x1234;
    d->device = (uint16_t)(0x11e8 + i);
    d->class24 = 0x030000;
    d->bar0 = mmap(NULL, BAR_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    d->bar2 = mmap(NULL, BAR_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    dev_reset_config(d);
  }
}

/* ------------------------------------------------- registry objects */

/*
 * Handles: 0x2000+i user services, 0x2100+i PCI devices, 0x2200+i host bridges,
 * 0x3000+i connections, 0x4000+i iterators. The IOService plane:
 *   apcie0 (host bridge) > pcic0-bridge (root port) > display 03:00.0 > VFIOUserPCIDriver
 *                                                   > display 04:00.0 > VFIOUserPCIDriver
 *                                                   > ethernet 05:00.0
 *   apcie1 (host bridge) > pcic1-bridge (root port) > display 04:00.0 > VFIOUserPCIDriver  (twin only)
 */
enum { SVC_BASE = 0x2000, PCI_BASE = 0x2100, HOST_BASE = 0x2200, CONN_BASE = 0x3000, ITER_BASE = 0x4000 };
#define NSVC 4
#define NSVC_PLAIN 3 /* services listed without the twin */
static const char *k_svc_class[NSVC] = {"SomeOtherUserDriver", "VFIOUserPCIDriver", "VFIOUserPCIDriver", "VFIOUserPCIDriver"};
static const int k_svc_dev[NSVC] = {-1, 0, 1, 2};
#define NPCI 6
#define NPCI_PLAIN 4
typedef struct { const char *name; uint8_t bus, dev, fn; uint16_t vendor, device; uint32_t class24; int child_svc; int parent; unsigned seg; } pcidev_t;
/* parent: index of the parent PCI device, or -1 - host bridge index. */
static const pcidev_t k_pci[NPCI] = {
    {"pcic0-bridge", 0, 1, 0, 0x106b, 0x1002, 0x060400, -1, -1, 0},
    {"display", 3, 0, 0, 0x1234, 0x11e8, 0x030000, 1, 0, 0},
    {"display", 4, 0, 0, 0x1234, 0x11e9, 0x030000, 2, 0, 0},
    {"ethernet", 5, 0, 0, 0x14e4, 0x1686, 0x020000, -1, 0, 0},
    {"pcic1-bridge", 0, 1, 0, 0x106b, 0x1002, 0x060400, -1, -2, 1},
    {"display", 4, 0, 0, 0x1234, 0x11ea, 0x030000, 3, 4, 1},
};
#define NHOST 2
static const char *k_host_name[NHOST] = {"apcie0", "apcie1"};
static int svc_count(void) { return g_twin ? NSVC : NSVC_PLAIN; }
static int pci_count(void) { return g_twin ? NPCI : NPCI_PLAIN; }
static int g_obj_refs[0x5000 - SVC_BASE];
#define MAX_ITERS 32
typedef struct { int live; int n, pos; io_object_t items[8]; } iter_t;
static iter_t g_iters[MAX_ITERS];

static int *obj_ref(io_object_t o) {
  if (o < SVC_BASE || o >= 0x5000) return NULL;
  return &g_obj_refs[o - SVC_BASE];
}
static iter_t *iter_lookup(io_object_t o) {
  if (o < ITER_BASE || o >= ITER_BASE + MAX_ITERS) return NULL;
  iter_t *it = &g_iters[o - ITER_BASE];
  return it->live ? it : NULL;
}
static io_object_t iter_new(const io_object_t *items, int n) {
  for (int i = 0; i < MAX_ITERS; i++) {
    if (!g_iters[i].live) {
      g_iters[i].live = 1;
      g_iters[i].n = n;
      g_iters[i].pos = 0;
      memcpy(g_iters[i].items, items, sizeof(io_object_t) * (size_t)n);
      g_obj_refs[ITER_BASE + i - SVC_BASE] = 1;
      return ITER_BASE + (io_object_t)i;
    }
  }
  return 0;
}
static int held(io_object_t o) {
  int *r = obj_ref(o);
  return r != NULL && *r > 0;
}

void *IOServiceMatching(const char *name) {
  if (name == NULL) { violation("IOServiceMatching: NULL name"); return NULL; }
  return cf_new(CF_DICT, name, strlen(name));
}

kern_return_t IOServiceGetMatchingServices(mach_port_t mainPort, const void *matching, io_object_t *existing) {
  if (mainPort != 0) return violation("IOServiceGetMatchingServices: main port %u", mainPort);
  if (existing == NULL) return violation("IOServiceGetMatchingServices: NULL iterator out");
  cfobj *dict = cf_check(matching, "IOServiceGetMatchingServices");
  if (dict == NULL || dict->type != CF_DICT) return violation("IOServiceGetMatchingServices: matching is not a dictionary");
  pthread_mutex_lock(&g_lock);
  init_once();
  io_object_t items[8];
  int n = 0;
  if (strcmp(dict->bytes, "IOUserService") == 0)
    for (int i = 0; i < svc_count(); i++) items[n++] = SVC_BASE + (io_object_t)i;
  else if (strcmp(dict->bytes, "IOPCIDevice") == 0)
    for (int i = 0; i < pci_count(); i++) items[n++] = PCI_BASE + (io_object_t)i;
  *existing = iter_new(items, n);
  pthread_mutex_unlock(&g_lock);
  CFRelease(matching); /* the real call consumes one reference of the dictionary */
  return kIOReturnSuccess;
}

io_object_t IOIteratorNext(io_object_t iterator) {
  pthread_mutex_lock(&g_lock);
  iter_t *it = iter_lookup(iterator);
  if (it == NULL) { pthread_mutex_unlock(&g_lock); violation("IOIteratorNext: bad iterator %u", iterator); return 0; }
  io_object_t o = 0;
  if (it->pos < it->n) {
    o = it->items[it->pos++];
    (*obj_ref(o))++;
  }
  pthread_mutex_unlock(&g_lock);
  return o;
}

kern_return_t IOObjectRelease(io_object_t object) {
  pthread_mutex_lock(&g_lock);
  int *r = obj_ref(object);
  if (r == NULL || *r <= 0 || (object >= CONN_BASE && object < ITER_BASE)) {
    pthread_mutex_unlock(&g_lock);
    return violation("IOObjectRelease: object %u is not held", object);
  }
  if (--*r == 0) {
    iter_t *it = iter_lookup(object);
    if (it) it->live = 0;
  }
  pthread_mutex_unlock(&g_lock);
  return kIOReturnSuccess;
}

kern_return_t IORegistryEntryGetName(io_object_t entry, char *name) {
  if (name == NULL) return violation("IORegistryEntryGetName: NULL buffer");
  pthread_mutex_lock(&g_lock);
  if (!held(entry)) { pthread_mutex_unlock(&g_lock); return violation("IORegistryEntryGetName: entry %u not held", entry); }
  const char *n = "unknown";
  if (entry >= SVC_BASE && entry < SVC_BASE + NSVC) n = k_svc_class[entry - SVC_BASE];
  else if (entry >= PCI_BASE && entry < PCI_BASE + NPCI) n = k_pci[entry - PCI_BASE].name;
  else if (entry >= HOST_BASE && entry < HOST_BASE + NHOST) n = k_host_name[entry - HOST_BASE];
  snprintf(name, 128, "%s", n); /* io_name_t is char[128] */
  pthread_mutex_unlock(&g_lock);
  return kIOReturnSuccess;
}

kern_return_t IOObjectGetClass(io_object_t object, char *className) {
  if (className == NULL) return violation("IOObjectGetClass: NULL buffer");
  pthread_mutex_lock(&g_lock);
  if (!held(object)) { pthread_mutex_unlock(&g_lock); return violation("IOObjectGetClass: object %u not held", object); }
  const char *c = "IORegistryEntry";
  if (object >= SVC_BASE && object < SVC_BASE + NSVC) c = "IOUserService";
  else if (object >= PCI_BASE && object < PCI_BASE + NPCI) c = "IOPCIDevice";
  else if (object >= HOST_BASE && object < HOST_BASE + NHOST) c = "AppleT6000PCIe";
  snprintf(className, 128, "%s", c); /* io_name_t */
  pthread_mutex_unlock(&g_lock);
  return kIOReturnSuccess;
}

/* The real call returns the parent retained (the caller releases it); the plane's root has none. */
kern_return_t IORegistryEntryGetParentEntry(io_object_t entry, const char *plane, io_object_t *parent) {
  if (plane == NULL || strcmp(plane, "IOService") != 0) return violation("IORegistryEntryGetParentEntry: plane %s", plane ? plane : "NULL");
  if (parent == NULL) return violation("IORegistryEntryGetParentEntry: NULL out");
  pthread_mutex_lock(&g_lock);
  if (!held(entry)) { pthread_mutex_unlock(&g_lock); return violation("IORegistryEntryGetParentEntry: entry %u not held", entry); }
  io_object_t p = 0;
  if (entry >= SVC_BASE && entry < SVC_BASE + NSVC) {
    for (int i = 0; i < NPCI; i++) if (k_pci[i].child_svc == (int)(entry - SVC_BASE)) p = PCI_BASE + (io_object_t)i;
  } else if (entry >= PCI_BASE && entry < PCI_BASE + NPCI) {
    int up = k_pci[entry - PCI_BASE].parent;
    p = up >= 0 ? PCI_BASE + (io_object_t)up : HOST_BASE + (io_object_t)(-1 - up);
  }
  *parent = 0;
  if (p == 0) { pthread_mutex_unlock(&g_lock); return (kern_return_t)0xe00002c0; /* kIOReturnNoDevice */ }
  (*obj_ref(p))++;
  *parent = p;
  pthread_mutex_unlock(&g_lock);
  return kIOReturnSuccess;
}

kern_return_t IORegistryEntryGetChildIterator(io_object_t entry, const char *plane, io_object_t *iterator) {
  if (plane == NULL || strcmp(plane, "IOService") != 0) return violation("IORegistryEntryGetChildIterator: plane %s", plane ? plane : "NULL");
  if (iterator == NULL) return violation("IORegistryEntryGetChildIterator: NULL out");
  pthread_mutex_lock(&g_lock);
  if (!held(entry)) { pthread_mutex_unlock(&g_lock); return violation("IORegistryEntryGetChildIterator: entry %u not held", entry); }
  io_object_t items[1];
  int n = 0;
  if (entry >= PCI_BASE && entry < PCI_BASE + NPCI && k_pci[entry - PCI_BASE].child_svc >= 0)
    items[n++] = SVC_BASE + (io_object_t)k_pci[entry - PCI_BASE].child_svc;
  *iterator = iter_new(items, n);
  pthread_mutex_unlock(&g_lock);
  return kIOReturnSuccess;
}

static const void *data_u32(uint32_t v) { return cf_new(CF_DATA, &v, 4); }

const void *IORegistryEntryCreateCFProperty(io_object_t entry, const void *key, const void *allocator, IOOptionBits options) {
  cfobj *k = cf_check(key, "IORegistryEntryCreateCFProperty");
  if (k == NULL || k->type != CF_STRING) { violation("IORegistryEntryCreateCFProperty: key is not a string"); return NULL; }
  if (allocator != NULL) { violation("IORegistryEntryCreateCFProperty: allocator must be NULL"); return NULL; }
  if (options != 0) { violation("IORegistryEntryCreateCFProperty: options %u", options); return NULL; }
  pthread_mutex_lock(&g_lock);
  if (!held(entry)) { pthread_mutex_unlock(&g_lock); violation("IORegistryEntryCreateCFProperty: entry %u not held", entry); return NULL; }
  pthread_mutex_unlock(&g_lock);
  const char *name = k->bytes;
  if (entry >= SVC_BASE && entry < SVC_BASE + NSVC) {
    const char *cls = k_svc_class[entry - SVC_BASE];
    if (strcmp(name, "IOUserClass") == 0) return cf_new(CF_STRING, cls, strlen(cls));
    if (strcmp(name, "CFBundleIdentifier") == 0) {
      char b[128];
      snprintf(b, sizeof b, "org.example.vfio.%s", cls);
      return cf_new(CF_STRING, b, strlen(b));
    }
    return NULL;
  }
  if (entry >= PCI_BASE && entry < PCI_BASE + NPCI) {
    const pcidev_t *p = &k_pci[entry - PCI_BASE];
    if (strcmp(name, "vendor-id") == 0) return data_u32(p->vendor);
    if (strcmp(name, "device-id") == 0) return data_u32(p->device);
    if (strcmp(name, "class-code") == 0) return data_u32(p->class24);
    if (strcmp(name, "pcidebug") == 0) {
      char b[64];
      snprintf(b, sizeof b, "%u:%u:%u(%u:%u)", p->bus, p->dev, p->fn, p->seg, 1u);
      return cf_new(CF_STRING, b, strlen(b));
    }
    return NULL;
  }
  return NULL;
}

/* ------------------------------------------------------------ connections */

static client_t *client_lookup(mach_port_t c) {
  if (c < CONN_BASE || c >= CONN_BASE + MAX_CLIENTS) return NULL;
  client_t *cl = &g_clients[c - CONN_BASE];
  return cl->live ? cl : NULL;
}

kern_return_t IOServiceOpen(io_object_t service, mach_port_t owningTask, uint32_t type, mach_port_t *connect) {
  if (connect == NULL) return violation("IOServiceOpen: NULL connect out");
  if (owningTask != mach_task_self_) return violation("IOServiceOpen: task %u is not mach_task_self()", owningTask);
  pthread_mutex_lock(&g_lock);
  if (!held(service) || service < SVC_BASE || service >= SVC_BASE + svc_count()) {
    pthread_mutex_unlock(&g_lock);
    return violation("IOServiceOpen: %u is not a held service", service);
  }
  if (g_fail[65]) { kern_return_t kr = g_fail[65]; g_fail[65] = 0; pthread_mutex_unlock(&g_lock); return kr; }
  if (type != 0 || k_svc_dev[service - SVC_BASE] < 0) { pthread_mutex_unlock(&g_lock); return kIOReturnUnsupported; }
  for (int i = 0; i < MAX_CLIENTS; i++) {
    if (!g_clients[i].live) {
      client_t *cl = &g_clients[i];
      memset(cl, 0, sizeof *cl);
      cl->live = 1;
      cl->name = CONN_BASE + (mach_port_t)i;
      cl->dev = &g_devs[k_svc_dev[service - SVC_BASE]];
      cl->next_bus = 0x100000000ull;
      *connect = cl->name;
      g_opened_total++;
      pthread_mutex_unlock(&g_lock);
      return kIOReturnSuccess;
    }
  }
  pthread_mutex_unlock(&g_lock);
  return kIOReturnNoMemory;
}

/* The user client's Stop: interrupts, DMA regions, DMA buffer, claim (spec §5). Caller holds g_lock. */
static void client_stop(client_t *cl) {
  device_t *d = cl->dev;
  if (cl->irq_setup) {
    cl->irq_setup = 0;
    cl->completion_armed = 0;
    munmap(cl->irq_page, PAGE16K);
    cl->irq_page = NULL;
  }
  for (int i = 0; i < MAX_REGIONS_CAP; i++) cl->regions[i].live = 0;
  if (cl->dma_buf) { munmap(cl->dma_buf, cl->dma_buf_bytes); cl->dma_buf = NULL; }
  if (cl->claimed) {
    cl->claimed = 0;
    if (d->refs > 0) d->refs--;
    if (d->opener == cl) {
      d->provider_claimed = 0;
      d->opener = NULL;
    }
  }
}

kern_return_t IOServiceClose(mach_port_t connect) {
  pthread_mutex_lock(&g_lock);
  client_t *cl = client_lookup(connect);
  if (cl == NULL) { pthread_mutex_unlock(&g_lock); return violation("IOServiceClose: %u is not an open connection", connect); }
  client_stop(cl);
  cl->live = 0;
  g_closed_total++;
  pthread_mutex_unlock(&g_lock);
  return kIOReturnSuccess;
}

/*
 * Completes the client's armed WaitInterrupt by posting the message the kernel
 * sends for an async result (IOUserClient::sendAsyncResult64): msgh_id
 * kOSNotificationMessageID, an OSNotificationHeader64 of type
 * kIOAsyncCompletionNotificationType, the reference, the result. Caller holds g_lock.
 */
static void complete_wait(client_t *cl, kern_return_t result) {
  if (!cl->completion_armed) return;
  cl->completion_armed = 0;
  port_t *p = port_lookup(cl->completion_port);
  if (p == NULL) return;
  uint8_t msg[104];
  memset(msg, 0, sizeof msg);
  mach_msg_header_t *h = (mach_msg_header_t *)msg;
  h->msgh_bits = MACH_MSG_TYPE_COPY_SEND;
  h->msgh_size = sizeof msg;
  h->msgh_remote_port = cl->completion_port;
  h->msgh_id = kOSNotificationMessageID;
  uint32_t size = 8, type = kIOAsyncCompletionNotificationType; /* OSNotificationHeader64 at 24 */
  memcpy(msg + 24, &size, 4);
  memcpy(msg + 28, &type, 4);
  memcpy(msg + 32, cl->completion_ref, sizeof cl->completion_ref); /* reference[8] at 32..95 */
  memcpy(msg + 96, &result, 4);                                 /* IOAsyncCompletionContent.result */
  port_enqueue(p, msg, sizeof msg);
}

static int any_pending(client_t *cl) {
  for (int w = 0; w < 4; w++) if (__atomic_load_n(&cl->irq_page[w], __ATOMIC_SEQ_CST) != 0) return 1;
  return 0;
}

typedef struct { int in, out; } arity_t;
static const arity_t k_arity[18] = {
    {0, 6}, {0, 0}, {0, 0}, {2, 6}, {0, 0}, {3, 3}, {1, 0}, {2, 1}, {2, 1},
    {3, 0}, {1, 3}, {3, 1}, {4, 0}, {0, 1}, {0, 4}, {0, 0}, {4, 0}, {0, 0},
};
static const int k_gated[18] = {0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1};

static kern_return_t bar_info(device_t *d, uint64_t bar, uint64_t *memIdx, uint64_t *size, uint64_t *type) {
  (void)d;
  if (bar > 5) return kIOReturnBadArgument;
  if (bar == 0) { *memIdx = 0; *size = BAR_BYTES; *type = 0x0; return kIOReturnSuccess; }
  if (bar == 2) { *memIdx = 1; *size = BAR_BYTES; *type = 0x4 | 0x8; return kIOReturnSuccess; }
  return kIOReturnNotFound;
}
static uint8_t *bar_mem(device_t *d, uint64_t memIdx) {
  return memIdx == 0 ? d->bar0 : memIdx == 1 ? d->bar2 : NULL;
}

/* Caller holds g_lock. */
static kern_return_t dispatch(client_t *cl, uint32_t sel, const uint64_t *in, uint64_t *out) {
  device_t *d = cl->dev;
  if (g_fail[sel]) { kern_return_t kr = g_fail[sel]; g_fail[sel] = 0; return kr; }
  if (k_gated[sel] && !d->provider_claimed) return kIOReturnNotOpen;
  switch (sel) {
  case 0:
    out[0] = d->bus; out[1] = d->dev; out[2] = d->fn; out[3] = d->vendor; out[4] = d->device; out[5] = d->class24;
    return kIOReturnSuccess;
  case 1:
    if (cl->claimed) return kIOReturnSuccess;
    if (!d->provider_claimed) {
      if (g_fail[66]) { kern_return_t kr = g_fail[66]; g_fail[66] = 0; return kr; }
      uint32_t cmd = cfg_r(d->cfg, 4, 2);
      if ((cmd | 6) != cmd) cfg_w(d->cfg, 4, 2, cmd | 6);
      d->provider_claimed = 1;
      d->opener = cl;
    }
    d->refs++;
    cl->claimed = 1;
    return kIOReturnSuccess;
  case 2: case 4:
    if (sel == 4 && cl->dma_buf) { munmap(cl->dma_buf, cl->dma_buf_bytes); cl->dma_buf = NULL; }
    return kIOReturnSuccess;
  case 3: {
    uint64_t size = in[0], align = in[1] ? in[1] : 4096;
    if (size == 0 || size > 1536ull * 1024 * 1024) return kIOReturnBadArgument;
    if (cl->dma_buf) munmap(cl->dma_buf, cl->dma_buf_bytes);
    uint64_t bytes = (size + PAGE16K - 1) / PAGE16K * PAGE16K;
    cl->dma_buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (cl->dma_buf == MAP_FAILED) { cl->dma_buf = NULL; return kIOReturnNoMemory; }
    cl->dma_buf_bytes = bytes;
    (void)align;
    /* [size, dmaFlags, segments, seg0 addr, seg0 len, class code]: the dext's last output is the identity's class. */
    out[0] = size; out[1] = 0; out[2] = 1; out[3] = 0x80000000ull; out[4] = size; out[5] = d->class24;
    return kIOReturnSuccess;
  }
  case 5: {
    uint64_t key = in[0], va = in[1], size = in[2];
    if (size == 0 || va == 0) return kIOReturnBadArgument;
    int free_slot = -1;
    for (uint32_t i = 0; i < g_max_regions; i++) {
      if (cl->regions[i].live && cl->regions[i].key == key) return kIOReturnStillOpen;
      if (!cl->regions[i].live && free_slot < 0) free_slot = (int)i;
    }
    if (free_slot < 0) return kIOReturnNoSpace;
    uint64_t chunks = (size + g_chunk_bytes - 1) / g_chunk_bytes;
    if (chunks > g_max_chunks) return kIOReturnNoSpace;
    if (va % 4096 != 0) return kIOReturnNotAligned; /* the chunk would not be one segment */
    region_t *r = &cl->regions[free_slot];
    r->live = 1; r->key = key; r->va = va; r->size = size; r->chunks = chunks; r->bus = cl->next_bus;
    cl->next_bus += (size + PAGE16K - 1) / PAGE16K * PAGE16K;
    out[0] = 1; out[1] = r->bus; out[2] = size < g_chunk_bytes ? size : g_chunk_bytes;
    return kIOReturnSuccess;
  }
  case 6: case 7: {
    for (int i = 0; i < MAX_REGIONS_CAP; i++) {
      region_t *r = &cl->regions[i];
      if (!r->live || r->key != in[0]) continue;
      if (sel == 6) { r->live = 0; return kIOReturnSuccess; }
      if (in[1] + 8 > r->size || in[1] + 8 < in[1]) return kIOReturnOverrun;
      memcpy(&out[0], (const void *)(uintptr_t)(r->va + in[1]), 8); /* the client's memory, read as the dext would */
      return kIOReturnSuccess;
    }
    return kIOReturnNotFound;
  }
  case 8: {
    uint64_t off = in[0], w = in[1];
    if (w != 1 && w != 2 && w != 4) return kIOReturnBadArgument;
    if (w == 4 && off >= 0x10 && off <= 0x24 && (off & 3) == 0) {
      uint64_t m, s, t;
      out[0] = bar_info(d, (off - 0x10) / 4, &m, &s, &t) == kIOReturnSuccess && s != 0 ? t : 0;
      return kIOReturnSuccess;
    }
    out[0] = off + w > CFG_BYTES ? (w == 4 ? 0xffffffffu : (1u << (8 * w)) - 1) : cfg_r(d->cfg, (unsigned)off, (unsigned)w);
    return kIOReturnSuccess;
  }
  case 9: {
    uint64_t off = in[0], w = in[1];
    if (w != 1 && w != 2 && w != 4) return kIOReturnBadArgument;
    if (off + w <= CFG_BYTES) cfg_w(d->cfg, (unsigned)off, (unsigned)w, (uint32_t)in[2]);
    return kIOReturnSuccess;
  }
  case 10:
    return bar_info(d, in[0], &out[0], &out[1], &out[2]);
  case 11: case 12: {
    uint64_t idx = in[0], off = in[1], w = in[2];
    if (w != 1 && w != 2 && w != 4 && w != 8) return kIOReturnBadArgument;
    uint8_t *m = bar_mem(d, idx);
    if (m == NULL || off + w > BAR_BYTES || off % w) return kIOReturnBadArgument;
    g_mmio_count[sel - 11]++;
    g_mmio_last_width[sel - 11] = (unsigned)w;
    void *p = m + off;
    if (sel == 11) {
      switch (w) {
      case 1: out[0] = __atomic_load_n((uint8_t *)p, __ATOMIC_SEQ_CST); break;
      case 2: out[0] = __atomic_load_n((uint16_t *)p, __ATOMIC_SEQ_CST); break;
      case 4: out[0] = __atomic_load_n((uint32_t *)p, __ATOMIC_SEQ_CST); break;
      default: out[0] = __atomic_load_n((uint64_t *)p, __ATOMIC_SEQ_CST); break;
      }
    } else {
      uint64_t v = in[3];
      switch (w) {
      case 1: __atomic_store_n((uint8_t *)p, (uint8_t)v, __ATOMIC_SEQ_CST); break;
      case 2: __atomic_store_n((uint16_t *)p, (uint16_t)v, __ATOMIC_SEQ_CST); break;
      case 4: __atomic_store_n((uint32_t *)p, (uint32_t)v, __ATOMIC_SEQ_CST); break;
      default: __atomic_store_n((uint64_t *)p, v, __ATOMIC_SEQ_CST); break;
      }
    }
    return kIOReturnSuccess;
  }
  case 13: {
    if (cl->irq_setup) return kIOReturnStillOpen;
    uint32_t ctrl = cfg_r(d->cfg, MSI_CAP + 2, 2);
    uint32_t n = 1u << ((ctrl >> 1) & 7);
    if (n == 0 || n > 256) n = 256;
    cl->irq_page = mmap(NULL, PAGE16K, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (cl->irq_page == MAP_FAILED) { cl->irq_page = NULL; return kIOReturnNoMemory; }
    for (int w = 0; w < 4; w++) { cl->irq_page[w] = 0; cl->irq_page[4 + w] = ~0ull; }
    cl->nvectors = n;
    cl->irq_setup = 1;
    out[0] = n;
    return kIOReturnSuccess;
  }
  case 14:
    if (!cl->irq_setup) return kIOReturnNotReady;
    for (int w = 0; w < 4; w++) out[w] = __atomic_exchange_n(&cl->irq_page[w], 0, __ATOMIC_SEQ_CST);
    return kIOReturnSuccess;
  case 15:
    return kIOReturnBadArgument; /* no completion: a synchronous call */
  case 16:
    if (!cl->irq_setup) return kIOReturnNotReady;
    for (int w = 0; w < 4; w++) __atomic_store_n(&cl->irq_page[4 + w], in[w], __ATOMIC_SEQ_CST);
    return kIOReturnSuccess;
  case 17:
    d->resets++;
    dev_reset_config(d);
    if (d->provider_claimed) cfg_w(d->cfg, 4, 2, 6);
    return kIOReturnSuccess;
  }
  return kIOReturnUnsupported;
}

static kern_return_t check_scalars(const char *who, uint32_t sel, const uint64_t *input, uint32_t inputCnt,
                                   const uint64_t *output, const uint32_t *outputCnt) {
  if (sel >= 18) return kIOReturnUnsupported;
  const arity_t a = k_arity[sel];
  if (inputCnt != (uint32_t)a.in) return violation("%s(%u): inputCnt %u, expected %d", who, sel, inputCnt, a.in);
  if (a.in > 0 && input == NULL) return violation("%s(%u): NULL input", who, sel);
  if (a.out > 0) {
    if (output == NULL || outputCnt == NULL) return violation("%s(%u): NULL output or outputCnt", who, sel);
    if (*outputCnt < (uint32_t)a.out) return violation("%s(%u): *outputCnt %u < %d", who, sel, *outputCnt, a.out);
    if (*outputCnt > 16) return violation("%s(%u): *outputCnt %u is not a plausible capacity", who, sel, *outputCnt);
  } else if (outputCnt != NULL && *outputCnt > 16) {
    return violation("%s(%u): *outputCnt %u is not a plausible capacity", who, sel, *outputCnt);
  }
  return kIOReturnSuccess;
}

kern_return_t IOConnectCallMethod(mach_port_t connection, uint32_t selector, const uint64_t *input, uint32_t inputCnt,
                                  const void *inputStruct, size_t inputStructCnt, uint64_t *output, uint32_t *outputCnt,
                                  void *outputStruct, size_t *outputStructCnt) {
  if (inputStruct != NULL || inputStructCnt != 0) return violation("IOConnectCallMethod(%u): struct input given", selector);
  if (outputStruct != NULL || (outputStructCnt != NULL && *outputStructCnt != 0))
    return violation("IOConnectCallMethod(%u): struct output given", selector);
  kern_return_t kr = check_scalars("IOConnectCallMethod", selector, input, inputCnt, output, outputCnt);
  if (kr != kIOReturnSuccess) return kr;
  pthread_mutex_lock(&g_lock);
  client_t *cl = client_lookup(connection);
  if (cl == NULL) { pthread_mutex_unlock(&g_lock); return violation("IOConnectCallMethod: %u is not an open connection", connection); }
  uint64_t tmp[8] = {0};
  kr = dispatch(cl, selector, input, tmp);
  if (kr == kIOReturnSuccess && k_arity[selector].out > 0) memcpy(output, tmp, 8 * (size_t)k_arity[selector].out);
  if (outputCnt != NULL) *outputCnt = kr == kIOReturnSuccess ? (uint32_t)k_arity[selector].out : 0;
  pthread_mutex_unlock(&g_lock);
  return kr;
}

kern_return_t IOConnectCallScalarMethod(mach_port_t connection, uint32_t selector, const uint64_t *input, uint32_t inputCnt,
                                        uint64_t *output, uint32_t *outputCnt) {
  return IOConnectCallMethod(connection, selector, input, inputCnt, NULL, 0, output, outputCnt, NULL, NULL);
}

kern_return_t IOConnectCallAsyncMethod(mach_port_t connection, uint32_t selector, mach_port_t wake_port, uint64_t *reference,
                                       uint32_t referenceCnt, const uint64_t *input, uint32_t inputCnt, const void *inputStruct,
                                       size_t inputStructCnt, uint64_t *output, uint32_t *outputCnt, void *outputStruct,
                                       size_t *outputStructCnt) {
  if (reference == NULL || referenceCnt == 0 || referenceCnt > kOSAsyncRef64Count)
    return violation("IOConnectCallAsyncMethod: reference %p count %u", (void *)reference, referenceCnt);
  if (inputStruct != NULL || inputStructCnt != 0 || outputStruct != NULL || (outputStructCnt != NULL && *outputStructCnt != 0))
    return violation("IOConnectCallAsyncMethod: struct arguments given");
  if (selector != 15) return violation("IOConnectCallAsyncMethod: selector %u is not async", selector);
  kern_return_t kr = check_scalars("IOConnectCallAsyncMethod", selector, input, inputCnt, output, outputCnt);
  if (kr != kIOReturnSuccess) return kr;
  pthread_mutex_lock(&g_lock);
  client_t *cl = client_lookup(connection);
  if (cl == NULL) { pthread_mutex_unlock(&g_lock); return violation("IOConnectCallAsyncMethod: %u is not open", connection); }
  if (port_lookup(wake_port) == NULL) { pthread_mutex_unlock(&g_lock); return violation("IOConnectCallAsyncMethod: wake port %u", wake_port); }
  if (g_fail[15]) { kr = g_fail[15]; g_fail[15] = 0; pthread_mutex_unlock(&g_lock); return kr; }
  if (!cl->irq_setup) { pthread_mutex_unlock(&g_lock); return kIOReturnNotReady; }
  memset(cl->completion_ref, 0, sizeof cl->completion_ref);
  memcpy(cl->completion_ref, reference, 8 * (size_t)referenceCnt);
  cl->completion_ref[0] = wake_port; /* kIOAsyncReservedIndex: set by IOKit */
  cl->completion_port = wake_port;
  cl->completion_armed = 1; /* replaces (releases) any older completion */
  if (outputCnt != NULL) *outputCnt = 0;
  if (any_pending(cl)) complete_wait(cl, kIOReturnSuccess);
  pthread_mutex_unlock(&g_lock);
  return kIOReturnSuccess;
}

kern_return_t IOConnectMapMemory64(mach_port_t connect, uint32_t memoryType, mach_port_t intoTask, uint64_t *atAddress,
                                   uint64_t *ofSize, IOOptionBits options) {
  if (atAddress == NULL || ofSize == NULL) return violation("IOConnectMapMemory64: NULL address or size out");
  if (intoTask != mach_task_self_) return violation("IOConnectMapMemory64: task %u", intoTask);
  if (!(options & kIOMapAnywhere) || (options & ~(kIOMapAnywhere | kIOMapCacheMask)))
    return violation("IOConnectMapMemory64: options 0x%x", options);
  pthread_mutex_lock(&g_lock);
  client_t *cl = client_lookup(connect);
  if (cl == NULL) { pthread_mutex_unlock(&g_lock); return violation("IOConnectMapMemory64: %u is not open", connect); }
  device_t *d = cl->dev;
  kern_return_t kr = kIOReturnSuccess;
  void *addr = NULL;
  uint64_t size = 0;
  if (g_fail[64]) { kr = g_fail[64]; g_fail[64] = 0; }
  else if (memoryType == 0) {
    if (cl->dma_buf == NULL) kr = kIOReturnNotReady;
    else { addr = cl->dma_buf; size = cl->dma_buf_bytes; }
  } else if (memoryType >= 1 && memoryType <= 6) {
    uint64_t m, s, t;
    kr = bar_info(d, memoryType - 1, &m, &s, &t);
    if (kr == kIOReturnSuccess) { addr = bar_mem(d, m); size = s; }
  } else if (memoryType == 7) {
    if (!cl->irq_setup) kr = kIOReturnNotReady;
    else { addr = cl->irq_page; size = PAGE16K; }
  } else kr = kIOReturnUnsupported;
  if (kr == kIOReturnSuccess) {
    *atAddress = (uint64_t)(uintptr_t)addr;
    *ofSize = size;
    cl->maps[memoryType]++;
    g_last_map_options[memoryType] = options;
  }
  pthread_mutex_unlock(&g_lock);
  return kr;
}

kern_return_t IOConnectUnmapMemory64(mach_port_t connect, uint32_t memoryType, mach_port_t fromTask, uint64_t atAddress) {
  if (fromTask != mach_task_self_) return violation("IOConnectUnmapMemory64: task %u", fromTask);
  if (atAddress == 0) return kIOReturnBadArgument;
  pthread_mutex_lock(&g_lock);
  client_t *cl = client_lookup(connect);
  if (cl == NULL) { pthread_mutex_unlock(&g_lock); return violation("IOConnectUnmapMemory64: %u is not open", connect); }
  kern_return_t kr = kIOReturnSuccess;
  if (memoryType > 7 || cl->maps[memoryType] == 0) kr = kIOReturnBadArgument;
  else cl->maps[memoryType]--;
  pthread_mutex_unlock(&g_lock);
  return kr;
}

void IONotificationPortDestroy(void *notify) {
  nport_t *n = notify;
  if (n == NULL || n->magic != NPORT_MAGIC) { violation("IONotificationPortDestroy: bad ref %p", notify); return; }
  pthread_mutex_lock(&g_lock);
  port_t *p = port_lookup(n->port);
  if (p) { p->live = 0; pthread_cond_broadcast(&p->cond); }
  pthread_mutex_unlock(&g_lock);
  n->magic = 0;
  free(n);
  __atomic_sub_fetch(&g_nports_live, 1, __ATOMIC_SEQ_CST);
}

/* ---------------------------------------------------------- test control */

/* The first (non-twin) instance on `bus`. */
static device_t *dev_by_bus(uint32_t bus) {
  init_once();
  for (int i = 0; i < NDEV; i++) if (g_devs[i].bus == bus) return &g_devs[i];
  return NULL;
}

/**
 * InterruptOccurred(v) of the dext instance on `bus` (spec §4), as each user
 * client's own dispatch source sees it: every connection with interrupts set
 * up latches it in its own page (if in range and enabled there) and completes
 * its own wait. Returns the number of connections that latched it.
 */
int standin_raise_interrupt(uint32_t bus, uint32_t vector) {
  pthread_mutex_lock(&g_lock);
  device_t *d = dev_by_bus(bus);
  int latched = 0;
  for (int i = 0; d != NULL && i < MAX_CLIENTS; i++) {
    client_t *cl = &g_clients[i];
    if (!cl->live || cl->dev != d || !cl->irq_setup || vector >= cl->nvectors) continue;
    if (!(__atomic_load_n(&cl->irq_page[4 + vector / 64], __ATOMIC_SEQ_CST) >> (vector % 64) & 1)) continue;
    __atomic_or_fetch(&cl->irq_page[vector / 64], 1ull << (vector % 64), __ATOMIC_SEQ_CST);
    complete_wait(cl, kIOReturnSuccess);
    latched++;
  }
  pthread_mutex_unlock(&g_lock);
  return latched;
}
/** Adds (1) or removes (0) the second host root with its twin 04:00.0 dext instance. */
void standin_set_twin(int on) {
  pthread_mutex_lock(&g_lock);
  g_twin = on != 0;
  pthread_mutex_unlock(&g_lock);
}
/** The next call of `selector` (0-17; 64 = map, 65 = IOServiceOpen, 66 = Open on first claim) returns kr. */
void standin_set_fail(uint32_t selector, int kr) {
  pthread_mutex_lock(&g_lock);
  if (selector < 80) g_fail[selector] = kr;
  pthread_mutex_unlock(&g_lock);
}
void standin_set_dma_limits(uint32_t maxRegions, uint64_t chunkBytes, uint32_t maxChunks) {
  pthread_mutex_lock(&g_lock);
  g_max_regions = maxRegions > MAX_REGIONS_CAP ? MAX_REGIONS_CAP : maxRegions;
  g_chunk_bytes = chunkBytes;
  g_max_chunks = maxChunks;
  pthread_mutex_unlock(&g_lock);
}
unsigned standin_violations(void) { return __atomic_load_n(&g_violations, __ATOMIC_SEQ_CST); }
const char *standin_last_violation(void) { return g_last_violation; }
/** Live objects held by the caller: [0] registry refs, [1] connections, [2] CF objects, [3] notification ports, [4] open maps. */
void standin_counts(int32_t *out) {
  pthread_mutex_lock(&g_lock);
  int refs = 0, conns = 0, maps = 0;
  for (unsigned i = 0; i < sizeof g_obj_refs / sizeof g_obj_refs[0]; i++) refs += g_obj_refs[i];
  for (int i = 0; i < MAX_CLIENTS; i++) if (g_clients[i].live) {
    conns++;
    for (int t = 0; t < 8; t++) maps += g_clients[i].maps[t];
  }
  out[0] = refs; out[1] = conns; out[2] = g_cf_live; out[3] = g_nports_live; out[4] = maps;
  out[5] = g_opened_total; out[6] = g_closed_total;
  pthread_mutex_unlock(&g_lock);
}
/** [count, last width] of MMIORead (which 0) or MMIOWrite (which 1). */
void standin_mmio_log(uint32_t which, uint32_t *out) {
  pthread_mutex_lock(&g_lock);
  out[0] = g_mmio_count[which & 1];
  out[1] = g_mmio_last_width[which & 1];
  pthread_mutex_unlock(&g_lock);
}
uint32_t standin_last_map_options(uint32_t type) { return type < 8 ? g_last_map_options[type] : 0; }
/** Device state of `bus`: [0] providerClaimed, [1] refs, [2] connections with interrupts set up, [3] armed waits, [4] resets, [5] COMMAND. */
void standin_device_state(uint32_t bus, int32_t *out) {
  pthread_mutex_lock(&g_lock);
  device_t *d = dev_by_bus(bus);
  if (d) {
    int setup = 0, armed = 0;
    for (int i = 0; i < MAX_CLIENTS; i++) {
      if (!g_clients[i].live || g_clients[i].dev != d) continue;
      setup += g_clients[i].irq_setup;
      armed += g_clients[i].completion_armed;
    }
    out[0] = d->provider_claimed; out[1] = d->refs; out[2] = setup; out[3] = armed;
    out[4] = (int32_t)d->resets; out[5] = (int32_t)cfg_r(d->cfg, 4, 2);
  }
  pthread_mutex_unlock(&g_lock);
}
/** Closes every connection, port and iterator and restores the devices (between tests). */
void standin_reset_state(void) {
  pthread_mutex_lock(&g_lock);
  init_once();
  for (int i = 0; i < MAX_CLIENTS; i++) if (g_clients[i].live) { client_stop(&g_clients[i]); g_clients[i].live = 0; }
  for (int i = 0; i < NDEV; i++) {
    device_t *d = &g_devs[i];
    d->provider_claimed = 0; d->refs = 0; d->opener = NULL; d->resets = 0;
    memset(d->bar0, 0, BAR_BYTES);
    memset(d->bar2, 0, BAR_BYTES);
    dev_reset_config(d);
  }
  memset(g_obj_refs, 0, sizeof g_obj_refs);
  memset(g_iters, 0, sizeof g_iters);
  memset(g_fail, 0, sizeof g_fail);
  memset(g_mmio_count, 0, sizeof g_mmio_count);
  memset(g_mmio_last_width, 0, sizeof g_mmio_last_width);
  memset(g_last_map_options, 0, sizeof g_last_map_options);
  g_max_regions = MAX_REGIONS_CAP; g_max_chunks = DEXT_MAX_CHUNKS; g_chunk_bytes = 1536ull * 1024 * 1024;
  g_twin = 0;
  g_violations = 0; g_last_violation[0] = 0;
  g_opened_total = g_closed_total = 0;
  pthread_mutex_unlock(&g_lock);
}
