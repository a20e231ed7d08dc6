/*
 * The raw DNS client's native lookup engine (a Node-API addon, built by `npm run build` with node-gyp).
 *
 * A raw lookup is what src/agents/dnsRawWorker.ts does through libuv handles, as glibc does it: a fresh UDP socket
 * (a fresh source port), connected to the server, the A and the AAAA query back to back (here by one sendmmsg:
 * the pair that meets in conntrack), answers matched by id and question name, an rcode other than 0 ending the
 * lookup with its name, and on a try's timeout both queries again from the same socket, `attempts` tries in all.
 * Through Node every lookup also builds and drops a handle object, a send request, buffers and closures; here
 * it is system calls only, on a thread of the engine's own, like the C loop src/bench/glibcStyleLookups.c.
 * What the worker reports is kept as agents/dns/workerLoop.ts keeps it: counts, stalls (a lookup of `stallMs` or more,
 * failed or not), latency of successes and of failures in HdrHistogram buckets, failures by code.
 *
 * JS API:
 *   start(server: string, port, zoneWire: Buffer (the zone as DNS labels), nameOffset, concurrency, quota,
 *         durationMs, tryTimeoutMs, attempts, stallMs, shared: Int32Array(8)) -> engine (external)
 *   finished(engine) -> boolean
 *   collect(engine) -> { failures: [key, count, ...], latency: [index, count, ...], failure: [index, count, ...] }
 *                     (joins the thread; only once finished). A failure key is 0 for a lookup given up at a stop
 *                     (ABORTED), an errno (ETIMEDOUT when every try timed out), or RCODE_KEY + the rcode.
 *   bucketIndex(microseconds) -> the counts index a latency is filed under (for tests)
 * shared[0..5]: attempts, succeeded, failed, stalls, queries, retries (written by the engine); shared[6]: stop flag.
 * Lookup n (0-based, in launch order) asks h<nameOffset + n>.<zone>, as lookupQname in src/dns/wire.ts builds it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engineThread.h"
#include "hdrBuckets.h"

#define MAX_ERRNO 4096
#define RCODE_KEY MAX_ERRNO /* failures[RCODE_KEY + rcode]: the server answered with that rcode */
#define FAILURE_KEYS (RCODE_KEY + 16)
#define ABORTED 0
#define SHARED_SLOTS 8
#define STOP_SLOT 6
#define HEADER 12
#define MAX_NAME 255
#define MAX_QUERY (HEADER + MAX_NAME + 4)
#define TYPE_A 1
#define TYPE_AAAA 28
#define NONE -1

typedef struct {
  int fd; /* -1: the slot is free */
  double started;
  double deadline; /* of the current try */
  int tries;       /* tries made after the first */
  int sent;        /* queries sent */
  uint16_t id;     /* A's id; AAAA's is id + 1 */
  uint8_t answered; /* bit 0: A, bit 1: AAAA */
  int prev, next;  /* the timer list, in deadline order */
  int qlen;        /* bytes of each query */
  int name_len;    /* bytes of the question name */
  unsigned char query[2][MAX_QUERY];
} lookup_t;

typedef struct {
  engine_base_t base; /* first: the external JS holds is the engine */
  unsigned char zone[MAX_NAME];
  int zone_len;
  int64_t name_offset;
  int concurrency;
  int64_t quota;
  double duration_ms;
  double try_ms;
  int attempts;
  double stall_ms;
  uint64_t rng;
  /* loop state (the engine's thread only) */
  lookup_t *slots;
  int head, tail; /* timer list */
  int64_t launched, ok, failed, stalls, queries, retries;
  int inflight;
  uint64_t latency[COUNTS];
  uint64_t failure[COUNTS];
  uint64_t failures[FAILURE_KEYS];
} engine_t;

static uint16_t next_id(engine_t *e) {
  /* xorshift64: ids need to be unpredictable enough to tell tries of different lookups apart, nothing more. */
  e->rng ^= e->rng << 13;
  e->rng ^= e->rng >> 7;
  e->rng ^= e->rng << 17;
  return (uint16_t)(e->rng >> 24);
}

static void publish(engine_t *e) {
  int32_t *s = e->base.shared;
  __atomic_store_n(&s[0], (int32_t)e->launched, __ATOMIC_RELAXED);
  __atomic_store_n(&s[1], (int32_t)e->ok, __ATOMIC_RELAXED);
  __atomic_store_n(&s[2], (int32_t)e->failed, __ATOMIC_RELAXED);
  __atomic_store_n(&s[3], (int32_t)e->stalls, __ATOMIC_RELAXED);
  __atomic_store_n(&s[4], (int32_t)e->queries, __ATOMIC_RELAXED);
  __atomic_store_n(&s[5], (int32_t)e->retries, __ATOMIC_RELAXED);
}

static void timer_unlink(engine_t *e, int s) {
  lookup_t *l = &e->slots[s];
  if (l->prev != NONE) e->slots[l->prev].next = l->next;
  else if (e->head == s) e->head = l->next;
  if (l->next != NONE) e->slots[l->next].prev = l->prev;
  else if (e->tail == s) e->tail = l->prev;
  l->prev = l->next = NONE;
}

/* Every try lasts try_ms: a try started later ends later, so appending keeps the list in deadline order. */
static void timer_append(engine_t *e, int s, double deadline) {
  lookup_t *l = &e->slots[s];
  l->deadline = deadline;
  l->prev = e->tail;
  l->next = NONE;
  if (e->tail != NONE) e->slots[e->tail].next = s;
  else e->head = s;
  e->tail = s;
}

/* The lookup in slot s is over: key < 0 for success, else its failure key. The slot is free afterwards. */
static void end_lookup(engine_t *e, int s, int key, double t) {
  lookup_t *l = &e->slots[s];
  double ms = t - l->started;
  timer_unlink(e, s);
  close(l->fd); /* also drops it from the epoll set */
  l->fd = -1;
  e->inflight--;
  e->queries += l->sent;
  e->retries += l->sent > 2 ? l->sent - 2 : 0;
  if (key < 0) {
    e->ok++;
    record(e->latency, ms);
  } else {
    e->failed++;
    e->failures[key]++;
    record(e->failure, ms);
  }
  if (ms >= e->stall_ms) e->stalls++;
}

static int errno_key(int err) {
  return err > 0 && err < MAX_ERRNO ? err : EIO;
}

/* Both queries of a try, back to back; 0, or the errno of the send that failed. */
static int send_try(engine_t *e, int s) {
  lookup_t *l = &e->slots[s];
  struct iovec iov[2] = {{l->query[0], (size_t)l->qlen}, {l->query[1], (size_t)l->qlen}};
  struct mmsghdr msgs[2];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < 2; i++) {
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  int done = 0;
  while (done < 2) {
    l->sent++; /* counted before it leaves, as the JS path counts it */
    int r = sendmmsg(l->fd, msgs + done, (unsigned)(2 - done), 0);
    if (r < 0) return errno_key(errno);
    l->sent += r - 1;
    done += r;
  }
  return 0;
}

static void write_query(unsigned char *q, uint16_t id, uint16_t type, const unsigned char *name, int name_len) {
  q[0] = (unsigned char)(id >> 8);
  q[1] = (unsigned char)id;
  q[2] = 0x01; /* RD */
  q[3] = 0;
  q[4] = 0;
  q[5] = 1; /* one question */
  memset(q + 6, 0, 6);
  memcpy(q + HEADER, name, (size_t)name_len);
  q[HEADER + name_len] = (unsigned char)(type >> 8);
  q[HEADER + name_len + 1] = (unsigned char)type;
  q[HEADER + name_len + 2] = 0;
  q[HEADER + name_len + 3] = 1; /* class IN */
}

/* Start lookup number e->launched in slot s. */
static void launch(engine_t *e, int s, double t) {
  lookup_t *l = &e->slots[s];
  unsigned char name[MAX_NAME + 24];
  char digits[24];
  int64_t n = e->name_offset + e->launched;
  e->launched++;
  int nd = snprintf(digits, sizeof digits, "%lld", (long long)n);
  name[0] = (unsigned char)(1 + nd);
  name[1] = 'h';
  memcpy(name + 2, digits, (size_t)nd);
  memcpy(name + 2 + nd, e->zone, (size_t)e->zone_len);
  l->name_len = 2 + nd + e->zone_len;
  l->qlen = HEADER + l->name_len + 4;
  l->id = next_id(e);
  l->answered = 0;
  l->sent = 0;
  l->tries = 0;
  l->started = t;
  l->prev = l->next = NONE;
  write_query(l->query[0], l->id, TYPE_A, name, l->name_len);
  write_query(l->query[1], (uint16_t)(l->id + 1), TYPE_AAAA, name, l->name_len);
  e->inflight++;
  l->fd = socket(e->base.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (l->fd < 0) {
    /* nothing to close: counted here, the slot stays free */
    e->inflight--;
    e->failed++;
    e->failures[errno_key(errno)]++;
    record(e->failure, now_ms() - t);
    return;
  }
  int err = 0;
  if (connect(l->fd, (struct sockaddr *)&e->base.dst, e->base.dst_len) < 0) err = errno_key(errno);
  if (!err) err = send_try(e, s);
  if (err) {
    end_lookup(e, s, err, now_ms());
    return;
  }
  timer_append(e, s, t + e->try_ms);
}

static int lower(int c) {
  return c >= 'A' && c <= 'Z' ? c | 0x20 : c;
}

/* An answer to slot s's lookup: 1 = both answered, 0 = still waiting or not ours, < 0: minus its failure key. */
static int on_answer(engine_t *e, int s, const unsigned char *buf, ssize_t len) {
  lookup_t *l = &e->slots[s];
  if (len < HEADER + l->name_len + 4) return 0;
  if (!(buf[2] & 0x80) || ((buf[4] << 8) | buf[5]) < 1) return 0; /* no response, or no question */
  const unsigned char *name = l->query[0] + HEADER;
  for (int i = 0; i < l->name_len; i++)
    if (lower(buf[HEADER + i]) != lower(name[i])) return 0; /* another name: glibc ignores it too */
  uint16_t id = (uint16_t)((buf[0] << 8) | buf[1]);
  int bit = id == l->id ? 1 : id == (uint16_t)(l->id + 1) ? 2 : 0;
  if (!bit) return 0;
  int rcode = buf[3] & 0x0f;
  if (rcode) return -(RCODE_KEY + rcode);
  l->answered |= (uint8_t)bit;
  return l->answered == 3 ? 1 : 0;
}

static void on_readable(engine_t *e, int s, double t) {
  unsigned char buf[4096];
  lookup_t *l = &e->slots[s];
  for (;;) {
    ssize_t n = recv(l->fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      end_lookup(e, s, errno_key(errno), t); /* ECONNREFUSED: the server's port is closed */
      return;
    }
    int r = on_answer(e, s, buf, n);
    if (r == 1) {
      end_lookup(e, s, -1, t);
      return;
    }
    if (r < 0) {
      end_lookup(e, s, -r, t);
      return;
    }
  }
}

static void *run(void *arg) {
  engine_t *e = arg;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  int *free_slots = calloc((size_t)e->concurrency, sizeof(int));
  e->slots = calloc((size_t)e->concurrency, sizeof(lookup_t));
  e->head = e->tail = NONE;
  int nfree = e->concurrency;
  double t0 = now_ms(), last_publish = t0;
  struct epoll_event evs[256];

  if (ep < 0 || !e->slots || !free_slots) {
    e->launched = 1;
    e->failed = 1;
    e->failures[errno_key(errno ? errno : ENOMEM)]++;
    goto out;
  }
  for (int i = 0; i < e->concurrency; i++) {
    e->slots[i].fd = -1;
    e->slots[i].prev = e->slots[i].next = NONE;
    free_slots[i] = e->concurrency - 1 - i;
  }
  for (;;) {
    double t = now_ms();
    int stop = engine_stopped(&e->base);
    while (!stop && nfree > 0 && e->launched < e->quota && t - t0 < e->duration_ms) {
      int s = free_slots[--nfree];
      launch(e, s, t);
      lookup_t *l = &e->slots[s];
      if (l->fd < 0) {
        free_slots[nfree++] = s;
        continue;
      }
      struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)s};
      if (epoll_ctl(ep, EPOLL_CTL_ADD, l->fd, &ev) < 0) {
        end_lookup(e, s, errno_key(errno), now_ms());
        free_slots[nfree++] = s;
      }
      t = now_ms();
    }
    if (stop) {
      /* Stopped from outside: what is in flight is given up and counted, as the JS loop counts it (ABORTED). */
      for (int s = 0; s < e->concurrency && e->inflight > 0; s++) {
        lookup_t *l = &e->slots[s];
        if (l->fd < 0) continue;
        timer_unlink(e, s);
        close(l->fd);
        l->fd = -1;
        e->inflight--;
        e->failed++;
        e->failures[ABORTED]++;
      }
    }
    if (e->inflight == 0) break;
    int wait = 20;
    if (e->head != NONE) {
      double left = e->slots[e->head].deadline - t;
      if (left < wait) wait = left <= 0 ? 0 : (int)left + 1;
    }
    int n = epoll_wait(ep, evs, 256, wait);
    t = now_ms();
    for (int i = 0; i < n; i++) {
      int s = (int)evs[i].data.u32;
      if (e->slots[s].fd < 0) continue;
      on_readable(e, s, t);
      if (e->slots[s].fd < 0) free_slots[nfree++] = s;
    }
    /* Tries whose time is up: the next try, or the lookup has failed. */
    while (e->head != NONE && e->slots[e->head].deadline <= t) {
      int s = e->head;
      lookup_t *l = &e->slots[s];
      if (l->tries + 1 >= e->attempts) {
        end_lookup(e, s, ETIMEDOUT, t);
        free_slots[nfree++] = s;
        continue;
      }
      l->tries++;
      timer_unlink(e, s);
      int err = send_try(e, s);
      if (err) {
        end_lookup(e, s, err, now_ms());
        free_slots[nfree++] = s;
        continue;
      }
      timer_append(e, s, t + e->try_ms);
    }
    if (t - last_publish >= 20) {
      last_publish = t;
      publish(e);
    }
  }
out:
  publish(e);
  if (ep >= 0) close(ep);
  free(free_slots);
  free(e->slots);
  e->slots = NULL;
  engine_done(&e->base);
  return NULL;
}

static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  ENGINE_CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 11) {
    napi_throw_type_error(env, NULL,
                          "start(server, port, zoneWire, nameOffset, concurrency, quota, durationMs, tryTimeoutMs, attempts, stallMs, shared)");
    return NULL;
  }
  char host[64];
  size_t host_len = 0, zone_len = 0;
  void *zone = NULL;
  int32_t port = 0, concurrency = 0, attempts = 0;
  int64_t name_offset = 0, quota = 0;
  double duration_ms = 0, try_ms = 0, stall_ms = 0;
  ENGINE_CHECK(napi_get_value_string_utf8(env, argv[0], host, sizeof host, &host_len));
  ENGINE_CHECK(napi_get_value_int32(env, argv[1], &port));
  ENGINE_CHECK(napi_get_buffer_info(env, argv[2], &zone, &zone_len));
  ENGINE_CHECK(napi_get_value_int64(env, argv[3], &name_offset));
  ENGINE_CHECK(napi_get_value_int32(env, argv[4], &concurrency));
  ENGINE_CHECK(napi_get_value_int64(env, argv[5], &quota));
  ENGINE_CHECK(napi_get_value_double(env, argv[6], &duration_ms));
  ENGINE_CHECK(napi_get_value_double(env, argv[7], &try_ms));
  ENGINE_CHECK(napi_get_value_int32(env, argv[8], &attempts));
  ENGINE_CHECK(napi_get_value_double(env, argv[9], &stall_ms));
  int32_t *shared = engine_shared(env, argv[10], SHARED_SLOTS);
  if (!shared) return NULL;
  /* h<20 digits> and the zone must make a name of at most 255 bytes */
  if (port < 1 || port > 65535 || concurrency < 1 || concurrency > 65536 || quota < 0 || attempts < 1 || name_offset < 0 ||
      zone_len < 1 || zone_len > MAX_NAME - 22) {
    napi_throw_range_error(env, NULL, "port, concurrency, quota, attempts, nameOffset or zone out of range");
    return NULL;
  }
  engine_t *e = engine_new(env, sizeof *e, host, port, shared, STOP_SLOT);
  if (!e) return NULL;
  memcpy(e->zone, zone, zone_len);
  e->zone_len = (int)zone_len;
  e->name_offset = name_offset;
  e->concurrency = concurrency;
  e->quota = quota;
  e->duration_ms = duration_ms;
  e->try_ms = try_ms;
  e->attempts = attempts;
  e->stall_ms = stall_ms;
  e->rng = ((uint64_t)now_ms() * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)(uintptr_t)e ^ 1;
  return engine_launch(env, &e->base, argv[10], run);
}

static napi_value collect(napi_env env, napi_callback_info info) {
  engine_t *e = (engine_t *)engine_joined(env, info);
  if (!e) return NULL;
  return bucket_result(env, e->failures, FAILURE_KEYS, e->latency, e->failure);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value rcode_key;
  if (!engine_exports(env, exports, bucket_index, start, collect)) return NULL;
  if (napi_create_int32(env, RCODE_KEY, &rcode_key) != napi_ok || napi_set_named_property(env, exports, "RCODE_KEY", rcode_key) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
