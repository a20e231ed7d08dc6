/*
 * The burst load's native engine (a Node-API addon, built by `npm run build` with node-gyp): synchronized
 * same-port connects that provoke the SNAT port race on purpose.
 *
 * One thread per client host. Each thread enters its client's network namespace (setns on a path such as
 * /run/netns/NAME or /proc/PID/ns/net: per thread on Linux, so its sockets live there) and is pinned to a CPU
 * of its own. Every round, every thread binds the SAME source port (a new one each round, from a range outside
 * the clients' ephemeral range), meets the others at a barrier in memory (see arrive(): the connects are released
 * by spinning on a shared counter, no system call and no scheduler in between) and connects at once. Two SYNs with one source port
 * from two addresses behind MASQUERADE: the NAT keeps the port for both when neither is confirmed yet, and the
 * second insert fails at confirm (insert_failed, the SYN is dropped, the client retransmits after ~1 s).
 *
 * Rounds are pipelined: a thread keeps up to `inFlightRounds` attempts in flight (epoll) and joins the next
 * round as soon as it has a free slot, so the losers' second-long retransmits do not hold up the load. A port
 * still in flight in any thread makes every thread skip that round (the same port is never reused while an
 * attempt on it is pending). Each attempt is recorded as the connect engine records it: latency of a success,
 * time to failure and errno of a failure, in the HdrHistogram buckets of hdrBuckets.h.
 *
 * JS API:
 *   start(host, port, netnsPaths: string[], cpus: number[] ([]: spread over the allowed CPUs), rounds,
 *         durationMs, connectTimeoutMs, portLo, portHi, inFlightRounds, shared: Int32Array(8)) -> engine
 *         (returns once every thread is in its namespace and pinned; throws with the reason otherwise)
 *   finished(engine) -> boolean
 *   collect(engine) -> { failures, latency, failure (as connectEngine.c), rounds, skippedRounds,
 *                        clients: [{ cpu, attempts, succeeded, failed, stalls }] }
 *   bucketIndex(microseconds) -> the counts index a latency is filed under (for tests)
 * shared[0..3]: attempts, succeeded, failed, stalls; shared[4]: stop (set by JS); shared[5]: rounds started;
 * shared[6]: rounds skipped; shared[7]: startup (1 running, -1 failed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <node_api.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <linux/futex.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "engineThread.h"
#include "hdrBuckets.h"

#define MAX_ERRNO 4096
#define STALL_US 900000
#define MAX_CLIENTS 64
#define MAX_IN_FLIGHT 16384
#define SHARED_SLOTS 8
/* nativeBurst.ts BURST_SHARED */
enum { S_ATTEMPTS, S_SUCCEEDED, S_FAILED, S_STALLS, S_STOP, S_ROUNDS, S_SKIPPED, S_STARTUP };
#define ABORTED 0 /* failures[0]: attempts given up at a stop (no errno is 0) */
#define SPINS_BEFORE_SLEEP 2048
#define SPINS_BEFORE_YIELD 65536
#define PUBLISH_MS 20
#define SWEEP_MS 100

enum { GO = 1, SKIP = 2, STOP = 3 };

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() __atomic_signal_fence(__ATOMIC_SEQ_CST)
#endif

typedef struct engine engine_t;

typedef struct {
  int fd; /* -1: free */
  int port;
  double started;
} slot_t;

typedef struct {
  engine_t *e;
  pthread_t thread;
  char path[256];
  int netns_fd;
  int cpu;
  int err; /* set up failed: errno, and in which step */
  const char *step;
  /* the loop's state, owned by the thread */
  int ep;
  slot_t *slots;
  int *free_slots;
  int nfree;
  int inflight;
  uint8_t *busy; /* by port: an attempt of this thread on it is in flight */
  int64_t attempts, ok, failed, stalls;
  int64_t published[4];
  uint64_t latency[COUNTS];
  uint64_t failure[COUNTS];
  uint64_t failures[MAX_ERRNO];
} client_t;

struct engine {
  engine_base_t base; /* first: the external JS holds is the engine */
  int nclients;
  int64_t rounds_quota;
  double duration_ms, timeout_ms;
  int port_lo, port_hi;
  int in_flight;
  double t0;
  int ready;   /* clients done with their set-up (atomic) */
  int go;      /* 1 run, -1 give up (atomic) */
  char setup_error[512];
  /* The round barrier: arrivals and the release on cache lines of their own (padding, not _Alignas: calloc
   * does not align to 64). */
  char pad0[64];
  int arrived;
  int skip;
  int decision;
  int64_t rounds_go, rounds_skipped; /* written by the last to arrive only */
  char pad1[64];
  unsigned generation; /* a futex word: threads that waited long sleep on it */
  int sleepers;
  char pad2[64];
  int awake; /* a GO round's second phase: threads running and about to connect */
  char pad3[64];
  client_t clients[];
};

static void nap_us(long us) {
  struct timespec ts = {.tv_sec = 0, .tv_nsec = us * 1000};
  nanosleep(&ts, NULL);
}

/* The round's fate, decided once by the last thread to arrive: the stop slot, the quota, the duration, a busy port. */
static int decide(engine_t *e, int skip) {
  if (engine_stopped(&e->base) || e->rounds_go >= e->rounds_quota || now_ms() - e->t0 >= e->duration_ms) return STOP;
  if (skip) {
    __atomic_store_n(&e->base.shared[S_SKIPPED], (int32_t)++e->rounds_skipped, __ATOMIC_RELAXED);
    return SKIP;
  }
  __atomic_store_n(&e->base.shared[S_ROUNDS], (int32_t)++e->rounds_go, __ATOMIC_RELAXED);
  return GO;
}

/* Meet the other threads; `busy`: this thread cannot take part in this round (its port is in flight).
 * Phase 1, a sense-reversing barrier: the last to arrive decides and bumps the generation; the others spin on it,
 * and one that waited long (its partner is off its CPU: the server, the kernel, another process) sleeps on it as
 * a futex instead of burning the CPU the partner needs. Phase 2, for a GO round: every thread, now running,
 * counts itself in and spins until all have, so the connects leave together even after a wake-up; only the
 * wake-up is a system call, never the release of the connects. */
static int arrive(engine_t *e, int busy) {
  unsigned gen = __atomic_load_n(&e->generation, __ATOMIC_ACQUIRE);
  int d;
  if (busy) __atomic_store_n(&e->skip, 1, __ATOMIC_RELAXED);
  if (__atomic_add_fetch(&e->arrived, 1, __ATOMIC_ACQ_REL) == e->nclients) {
    d = decide(e, __atomic_load_n(&e->skip, __ATOMIC_RELAXED));
    __atomic_store_n(&e->decision, d, __ATOMIC_RELAXED);
    __atomic_store_n(&e->skip, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&e->arrived, 0, __ATOMIC_RELAXED);
    /* Everyone has left the previous round's phase 2: they all arrived here since. */
    __atomic_store_n(&e->awake, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&e->generation, gen + 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&e->sleepers, __ATOMIC_SEQ_CST) > 0) syscall(SYS_futex, &e->generation, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
  } else {
    for (unsigned spins = 0; __atomic_load_n(&e->generation, __ATOMIC_ACQUIRE) == gen;) {
      if (++spins < SPINS_BEFORE_SLEEP) {
        cpu_relax();
        continue;
      }
      __atomic_add_fetch(&e->sleepers, 1, __ATOMIC_SEQ_CST);
      /* Returns at once when the generation moved meanwhile (the kernel compares it with gen). */
      syscall(SYS_futex, &e->generation, FUTEX_WAIT_PRIVATE, gen, NULL, NULL, 0);
      __atomic_sub_fetch(&e->sleepers, 1, __ATOMIC_SEQ_CST);
    }
    d = __atomic_load_n(&e->decision, __ATOMIC_RELAXED);
  }
  if (d == GO && __atomic_add_fetch(&e->awake, 1, __ATOMIC_ACQ_REL) < e->nclients) {
    for (unsigned spins = 0; __atomic_load_n(&e->awake, __ATOMIC_ACQUIRE) < e->nclients;) {
      if (++spins < SPINS_BEFORE_YIELD) cpu_relax();
      else sched_yield();
    }
  }
  return d;
}

static void publish(client_t *c) {
  int32_t *s = c->e->base.shared;
  int64_t now[4] = {c->attempts, c->ok, c->failed, c->stalls};
  for (int k = 0; k < 4; k++) {
    if (now[k] == c->published[k]) continue;
    __atomic_add_fetch(&s[k], (int32_t)(now[k] - c->published[k]), __ATOMIC_RELAXED);
    c->published[k] = now[k];
  }
}

static void fail(client_t *c, int err, double started, double t) {
  if (err < 0 || err >= MAX_ERRNO) err = EIO;
  c->failures[err]++;
  record(c->failure, t - started);
  c->failed++;
}

static void release_slot(client_t *c, int s) {
  close(c->slots[s].fd); /* also drops it from the epoll set */
  c->busy[c->slots[s].port] = 0;
  c->slots[s].fd = -1;
  c->free_slots[c->nfree++] = s;
  c->inflight--;
}

/* Settle the attempts epoll reports within timeout_ms: connected (closed with an RST) or failed. */
static void reap(client_t *c, int timeout_ms) {
  static const struct linger lg = {.l_onoff = 1, .l_linger = 0};
  struct epoll_event evs[256];
  int n = epoll_wait(c->ep, evs, 256, timeout_ms);
  if (n <= 0) return;
  double t = now_ms();
  for (int i = 0; i < n; i++) {
    int s = (int)evs[i].data.u32, err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->slots[s].fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err == 0) {
      double ms = t - c->slots[s].started;
      record(c->latency, ms);
      c->ok++;
      if (ms * 1000.0 >= STALL_US) c->stalls++;
      setsockopt(c->slots[s].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    } else {
      fail(c, err ? err : EIO, c->slots[s].started, t);
    }
    release_slot(c, s);
  }
}

/* Attempts older than the connect timeout fail with ETIMEDOUT; with `abort`, every one in flight is given up. */
static void sweep(client_t *c, int abort) {
  double t = now_ms();
  for (int s = 0; s < c->e->in_flight && c->inflight > 0; s++) {
    if (c->slots[s].fd < 0) continue;
    if (abort) {
      c->failures[ABORTED]++;
      record(c->failure, t - c->slots[s].started);
      c->failed++;
    } else if (t - c->slots[s].started >= c->e->timeout_ms) {
      fail(c, ETIMEDOUT, c->slots[s].started, t);
    } else {
      continue;
    }
    release_slot(c, s);
  }
}

static int expired(engine_t *e) {
  return engine_stopped(&e->base) || now_ms() - e->t0 >= e->duration_ms;
}

/* A socket bound to `port` on every address of the thread's namespace; -1 with errno set on failure. */
static int bound_socket(engine_t *e, int port) {
  struct sockaddr_storage src;
  memset(&src, 0, sizeof src);
  socklen_t len;
  if (e->base.family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&src;
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_any;
    a->sin6_port = htons((uint16_t)port);
    len = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&src;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_ANY);
    a->sin_port = htons((uint16_t)port);
    len = sizeof *a;
  }
  int fd = socket(e->base.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (bind(fd, (struct sockaddr *)&src, len) < 0) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

static void burst_loop(client_t *c) {
  engine_t *e = c->e;
  int span = e->port_hi - e->port_lo + 1;
  double last_sweep = now_ms(), last_publish = last_sweep;
  for (int64_t round = 0;; round++) {
    reap(c, 0);
    /* A full window waits for a slot, unless the load is over (then the round's decision is STOP anyway). */
    while (c->nfree == 0 && !expired(e)) {
      reap(c, 5);
      sweep(c, 0);
    }
    double t = now_ms();
    if (t - last_sweep >= SWEEP_MS) {
      last_sweep = t;
      sweep(c, 0);
    }
    if (t - last_publish >= PUBLISH_MS) {
      last_publish = t;
      publish(c);
    }
    int port = e->port_lo + (int)(round % span);
    int fd = -1, err = 0, busy = c->nfree == 0 || c->busy[port];
    if (!busy && (fd = bound_socket(e, port)) < 0) err = errno ? errno : EIO;
    int d = arrive(e, busy);
    if (d != GO) {
      if (fd >= 0) close(fd);
      if (d == STOP) break;
      continue;
    }
    double started = now_ms();
    c->attempts++;
    if (fd < 0) {
      fail(c, err, started, started);
      continue;
    }
    if (connect(fd, (struct sockaddr *)&e->base.dst, e->base.dst_len) < 0 && errno != EINPROGRESS) {
      fail(c, errno, started, now_ms());
      close(fd);
      continue;
    }
    int s = c->free_slots[--c->nfree];
    c->slots[s] = (slot_t){.fd = fd, .port = port, .started = started};
    c->busy[port] = 1;
    c->inflight++;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)s};
    if (epoll_ctl(c->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
      fail(c, errno, started, now_ms());
      release_slot(c, s);
    }
  }
  /* The load is over: what is in flight completes or times out; a stop from outside gives it up. */
  while (c->inflight > 0) {
    if (engine_stopped(&e->base)) {
      sweep(c, 1);
      break;
    }
    reap(c, 50);
    sweep(c, 0);
    double t = now_ms();
    if (t - last_publish >= PUBLISH_MS) {
      last_publish = t;
      publish(c);
    }
  }
  publish(c);
}

static int setup_client(client_t *c) {
  engine_t *e = c->e;
  if (setns(c->netns_fd, CLONE_NEWNET) < 0) {
    c->step = "setns";
    return errno;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(c->cpu, &set);
  int r = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  if (r != 0) {
    c->step = "pthread_setaffinity_np";
    return r;
  }
  c->ep = epoll_create1(EPOLL_CLOEXEC);
  if (c->ep < 0) {
    c->step = "epoll_create1";
    return errno;
  }
  c->slots = calloc((size_t)e->in_flight, sizeof *c->slots);
  c->free_slots = calloc((size_t)e->in_flight, sizeof *c->free_slots);
  c->busy = calloc(65536, 1);
  if (!c->slots || !c->free_slots || !c->busy) {
    c->step = "calloc";
    return ENOMEM;
  }
  for (int s = 0; s < e->in_flight; s++) {
    c->slots[s].fd = -1;
    c->free_slots[s] = e->in_flight - 1 - s;
  }
  c->nfree = e->in_flight;
  return 0;
}

static void *client_run(void *arg) {
  client_t *c = arg;
  engine_t *e = c->e;
  c->err = setup_client(c);
  close(c->netns_fd);
  c->netns_fd = -1;
  __atomic_add_fetch(&e->ready, 1, __ATOMIC_ACQ_REL);
  int go;
  while ((go = __atomic_load_n(&e->go, __ATOMIC_ACQUIRE)) == 0) nap_us(50);
  if (go > 0) burst_loop(c);
  if (c->ep >= 0) close(c->ep);
  free(c->slots);
  free(c->free_slots);
  free(c->busy);
  c->slots = NULL;
  c->free_slots = NULL;
  c->busy = NULL;
  return NULL;
}

/* The engine's own thread: starts the clients, releases them together once all are set up, waits for them. */
static void *run(void *arg) {
  engine_t *e = arg;
  int created = 0;
  for (; created < e->nclients; created++) {
    if (pthread_create(&e->clients[created].thread, NULL, client_run, &e->clients[created]) != 0) break;
  }
  for (int i = created; i < e->nclients; i++) close(e->clients[i].netns_fd);
  while (__atomic_load_n(&e->ready, __ATOMIC_ACQUIRE) < created) nap_us(50);
  int ok = created == e->nclients;
  if (!ok) snprintf(e->setup_error, sizeof e->setup_error, "pthread_create failed for client %d", created);
  for (int i = 0; ok && i < created; i++) {
    client_t *c = &e->clients[i];
    if (!c->err) continue;
    snprintf(e->setup_error, sizeof e->setup_error, "client %d: %s(%s): %s", i, c->step, c->path, strerror(c->err));
    ok = 0;
  }
  e->t0 = now_ms();
  __atomic_store_n(&e->base.shared[S_STARTUP], ok ? 1 : -1, __ATOMIC_RELEASE);
  __atomic_store_n(&e->go, ok ? 1 : -1, __ATOMIC_RELEASE);
  for (int i = 0; i < created; i++) pthread_join(e->clients[i].thread, NULL);
  engine_done(&e->base);
  return NULL;
}

static int int_array(napi_env env, napi_value v, int32_t *out, uint32_t max, uint32_t *n) {
  bool is_array = false;
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array || napi_get_array_length(env, v, n) != napi_ok || *n > max) return 0;
  for (uint32_t i = 0; i < *n; i++) {
    napi_value el;
    if (napi_get_element(env, v, i, &el) != napi_ok || napi_get_value_int32(env, el, &out[i]) != napi_ok) return 0;
  }
  return 1;
}

/* The CPUs this process may run on, in order; their count (0 when unknown). */
static int allowed_cpus(int32_t *out, int max) {
  cpu_set_t set;
  int n = 0;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
  for (int cpu = 0; cpu < CPU_SETSIZE && n < max; cpu++) {
    if (CPU_ISSET(cpu, &set)) out[n++] = cpu;
  }
  return n;
}

static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  ENGINE_CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 11) {
    napi_throw_type_error(env, NULL, "start(host, port, netnsPaths, cpus, rounds, durationMs, connectTimeoutMs, portLo, portHi, inFlightRounds, shared)");
    return NULL;
  }
  char host[64];
  size_t host_len = 0;
  int32_t port = 0, port_lo = 0, port_hi = 0, in_flight = 0;
  int64_t rounds = 0;
  double duration_ms = 0, timeout_ms = 0;
  ENGINE_CHECK(napi_get_value_string_utf8(env, argv[0], host, sizeof host, &host_len));
  ENGINE_CHECK(napi_get_value_int32(env, argv[1], &port));
  ENGINE_CHECK(napi_get_value_int64(env, argv[4], &rounds));
  ENGINE_CHECK(napi_get_value_double(env, argv[5], &duration_ms));
  ENGINE_CHECK(napi_get_value_double(env, argv[6], &timeout_ms));
  ENGINE_CHECK(napi_get_value_int32(env, argv[7], &port_lo));
  ENGINE_CHECK(napi_get_value_int32(env, argv[8], &port_hi));
  ENGINE_CHECK(napi_get_value_int32(env, argv[9], &in_flight));
  int32_t *shared = engine_shared(env, argv[10], SHARED_SLOTS);
  if (!shared) return NULL;

  bool is_array = false;
  uint32_t nclients = 0, ncpus = 0;
  ENGINE_CHECK(napi_is_array(env, argv[2], &is_array));
  if (!is_array || napi_get_array_length(env, argv[2], &nclients) != napi_ok || nclients < 1 || nclients > MAX_CLIENTS) {
    napi_throw_range_error(env, NULL, "netnsPaths must be an array of 1 to 64 paths");
    return NULL;
  }
  int32_t cpus[CPU_SETSIZE];
  if (!int_array(env, argv[3], cpus, CPU_SETSIZE, &ncpus)) {
    napi_throw_type_error(env, NULL, "cpus must be an array of CPU numbers");
    return NULL;
  }
  for (uint32_t i = 0; i < ncpus; i++) {
    if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE) {
      napi_throw_range_error(env, NULL, "a CPU number is out of range");
      return NULL;
    }
  }
  if (ncpus == 0 && (ncpus = (uint32_t)allowed_cpus(cpus, CPU_SETSIZE)) == 0) {
    napi_throw_error(env, NULL, "sched_getaffinity found no CPU to run on");
    return NULL;
  }
  if (port < 1 || port > 65535 || port_lo < 1 || port_hi > 65535 || port_lo > port_hi || in_flight < 1 || in_flight > MAX_IN_FLIGHT ||
      rounds < 0 || duration_ms < 0 || timeout_ms <= 0) {
    napi_throw_range_error(env, NULL, "port, burst ports, inFlightRounds, rounds or times out of range");
    return NULL;
  }

  engine_t *e = engine_new(env, sizeof *e + nclients * sizeof(client_t), host, port, shared, S_STOP);
  if (!e) return NULL;
  e->nclients = (int)nclients;
  e->rounds_quota = rounds;
  e->duration_ms = duration_ms;
  e->timeout_ms = timeout_ms;
  e->port_lo = port_lo;
  e->port_hi = port_hi;
  e->in_flight = in_flight;
  for (uint32_t i = 0; i < nclients; i++) {
    client_t *c = &e->clients[i];
    napi_value el;
    size_t len = 0;
    c->e = e;
    c->ep = -1;
    c->cpu = cpus[i % ncpus];
    if (napi_get_element(env, argv[2], i, &el) != napi_ok || napi_get_value_string_utf8(env, el, c->path, sizeof c->path, &len) != napi_ok) {
      for (uint32_t j = 0; j < i; j++) close(e->clients[j].netns_fd);
      free(e);
      napi_throw_type_error(env, NULL, "netnsPaths must hold strings");
      return NULL;
    }
    c->netns_fd = open(c->path, O_RDONLY | O_CLOEXEC);
    if (c->netns_fd < 0) {
      char msg[400];
      snprintf(msg, sizeof msg, "cannot open network namespace %s: %s", c->path, strerror(errno));
      for (uint32_t j = 0; j < i; j++) close(e->clients[j].netns_fd);
      free(e);
      napi_throw_error(env, NULL, msg);
      return NULL;
    }
  }
  /* On failure the namespaces' descriptors may already be the engine thread's to close: they are left open. */
  napi_value external = engine_launch(env, &e->base, argv[10], run);
  if (!external) return NULL;
  /* Wait for the clients' set-up (a few ms): a namespace that cannot be entered is the caller's error now. */
  int32_t state;
  while ((state = __atomic_load_n(&shared[S_STARTUP], __ATOMIC_ACQUIRE)) == 0) nap_us(100);
  if (state < 0) {
    while (!__atomic_load_n(&e->base.finished, __ATOMIC_ACQUIRE)) nap_us(100);
    napi_throw_error(env, NULL, e->setup_error);
    return NULL;
  }
  return external;
}

static napi_value client_figures(napi_env env, const client_t *c) {
  napi_value o, v;
  if (napi_create_object(env, &o) != napi_ok) return NULL;
  const struct {
    const char *name;
    double value;
  } f[] = {{"cpu", c->cpu}, {"attempts", (double)c->attempts}, {"succeeded", (double)c->ok}, {"failed", (double)c->failed}, {"stalls", (double)c->stalls}};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
    if (napi_create_double(env, f[i].value, &v) != napi_ok || napi_set_named_property(env, o, f[i].name, v) != napi_ok) return NULL;
  }
  return o;
}

static napi_value collect(napi_env env, napi_callback_info info) {
  engine_t *e = (engine_t *)engine_joined(env, info);
  if (!e) return NULL;
  uint64_t *latency = calloc(COUNTS, sizeof *latency), *failure = calloc(COUNTS, sizeof *failure), *failures = calloc(MAX_ERRNO, sizeof *failures);
  napi_value out = NULL, clients, v;
  if (!latency || !failure || !failures) {
    napi_throw_error(env, NULL, "engine: out of memory");
    goto done;
  }
  for (int i = 0; i < e->nclients; i++) {
    const client_t *c = &e->clients[i];
    for (int k = 0; k < COUNTS; k++) {
      latency[k] += c->latency[k];
      failure[k] += c->failure[k];
    }
    for (int k = 0; k < MAX_ERRNO; k++) failures[k] += c->failures[k];
  }
  out = bucket_result(env, failures, MAX_ERRNO, latency, failure);
  if (!out) goto done;
  if (napi_create_array_with_length(env, (size_t)e->nclients, &clients) != napi_ok) goto fail;
  for (int i = 0; i < e->nclients; i++) {
    napi_value c = client_figures(env, &e->clients[i]);
    if (!c || napi_set_element(env, clients, (uint32_t)i, c) != napi_ok) goto fail;
  }
  if (napi_set_named_property(env, out, "clients", clients) != napi_ok || napi_create_double(env, (double)e->rounds_go, &v) != napi_ok ||
      napi_set_named_property(env, out, "rounds", v) != napi_ok || napi_create_double(env, (double)e->rounds_skipped, &v) != napi_ok ||
      napi_set_named_property(env, out, "skippedRounds", v) != napi_ok)
    goto fail;
  goto done;
fail:
  napi_throw_error(env, NULL, "engine: could not build the result");
  out = NULL;
done:
  free(latency);
  free(failure);
  free(failures);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  if (!engine_exports(env, exports, bucket_index, start, collect)) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
