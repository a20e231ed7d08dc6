/*
 * The TCP client agent's native connect engine (a Node-API addon, built by `npm run build` with node-gyp).
 *
 * A connect storm is system calls and nothing else: socket, non-blocking connect, epoll, SO_LINGER 0 + close.
 * Through Node's handle layer every attempt also builds and tears down two JS/C++ objects, which doubles the
 * CPU per connect; on a 2-core machine that halves the attempt rate, and with it the chance to see the race.
 * This engine runs the loop of src/bench/connectLoop.c on a thread of its own and keeps, per attempt, what the
 * agent reports: connect latency (or time to failure) in HdrHistogram buckets, failures by errno, stalls.
 * The JS side (src/agents/nativeConnect.ts) reads live counts from shared memory, sets the stop flag there,
 * and turns the buckets into hdr-histogram-js histograms at the end.
 *
 * JS API:
 *   start(host: string, port: number, concurrency, quota, durationMs, connectTimeoutMs, rst: boolean,
 *         shared: Int32Array(8))  -> engine (external)
 *   finished(engine) -> boolean
 *   collect(engine) -> { failures: [errno or 0 = aborted by a stop, count, ...], latency: [index, count, ...], failure: [index, count, ...] }
 *                     (joins the thread; only once finished)
 *   bucketIndex(microseconds) -> the counts index a latency is filed under (for tests)
 * shared[0..3]: attempts, succeeded, failed, stalls (written by the engine); shared[4]: stop flag (set by JS).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engineThread.h"
#include "hdrBuckets.h"

#define MAX_ERRNO 4096
#define STALL_US 900000
#define SHARED_SLOTS 8
#define STOP_SLOT 4 /* nativeConnect.ts SHARED.STOP */
#define ABORTED 0 /* failures[0]: attempts given up at a stop (no errno is 0) */

typedef struct {
  engine_base_t base; /* first: the external JS holds is the engine */
  int concurrency;
  int64_t quota;
  double duration_ms;
  double timeout_ms;
  int rst;
  uint64_t latency[COUNTS];
  uint64_t failure[COUNTS];
  uint64_t failures[MAX_ERRNO];
} engine_t;

static void publish(engine_t *e, int64_t attempts, int64_t ok, int64_t failed, int64_t stalls) {
  int32_t *s = e->base.shared;
  __atomic_store_n(&s[0], (int32_t)attempts, __ATOMIC_RELAXED);
  __atomic_store_n(&s[1], (int32_t)ok, __ATOMIC_RELAXED);
  __atomic_store_n(&s[2], (int32_t)failed, __ATOMIC_RELAXED);
  __atomic_store_n(&s[3], (int32_t)stalls, __ATOMIC_RELAXED);
}

typedef struct {
  int fd;
  double started;
} slot_t;

static void fail(engine_t *e, int err, double started, double t, int64_t *failed) {
  if (err <= 0 || err >= MAX_ERRNO) err = EIO;
  e->failures[err]++;
  record(e->failure, t - started);
  (*failed)++;
}

static void *run(void *arg) {
  engine_t *e = arg;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  slot_t *slots = calloc((size_t)e->concurrency, sizeof(slot_t));
  int *free_slots = calloc((size_t)e->concurrency, sizeof(int));
  int nfree = e->concurrency;

  int64_t attempts = 0, ok = 0, failed = 0, stalls = 0;
  int inflight = 0;
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  double t0 = now_ms(), last_publish = t0, last_sweep = t0;
  struct epoll_event evs[256];

  if (ep < 0 || !slots || !free_slots) {
    fail(e, errno ? errno : ENOMEM, t0, t0, &failed);
    attempts = 1;
    goto out;
  }
  for (int i = 0; i < e->concurrency; i++) {
    slots[i].fd = -1;
    free_slots[i] = e->concurrency - 1 - i;
  }
  for (;;) {
    double t = now_ms();
    int stop = engine_stopped(&e->base);
    while (!stop && nfree > 0 && attempts < e->quota && t - t0 < e->duration_ms) {
      int s = free_slots[--nfree];
      attempts++;
      int fd = socket(e->base.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      double started = now_ms();
      if (fd < 0) {
        fail(e, errno, started, started, &failed);
        free_slots[nfree++] = s;
        continue;
      }
      if (connect(fd, (struct sockaddr *)&e->base.dst, e->base.dst_len) < 0 && errno != EINPROGRESS) {
        fail(e, errno, started, now_ms(), &failed);
        close(fd);
        free_slots[nfree++] = s;
        continue;
      }
      slots[s].fd = fd;
      slots[s].started = started;
      struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)s};
      if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        fail(e, errno, started, now_ms(), &failed);
        close(fd);
        free_slots[nfree++] = s;
        continue;
      }
      inflight++;
    }
    if (stop) {
      /* Stopped from outside: whatever is in flight is given up, like the JS engines' ABORTED. */
      for (int s = 0; s < e->concurrency && inflight > 0; s++) {
        if (slots[s].fd >= 0) {
          e->failures[ABORTED]++;
          record(e->failure, t - slots[s].started);
          failed++;
          close(slots[s].fd);
          slots[s].fd = -1;
          inflight--;
        }
      }
    }
    if (inflight == 0) break;
    int n = epoll_wait(ep, evs, 256, 50);
    t = now_ms();
    for (int i = 0; i < n; i++) {
      int s = (int)evs[i].data.u32;
      int fd = slots[s].fd, err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
      if (err == 0) {
        double ms = t - slots[s].started;
        record(e->latency, ms);
        ok++;
        if (ms * 1000.0 >= STALL_US) stalls++;
        if (e->rst) setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      } else {
        fail(e, err, slots[s].started, t, &failed);
      }
      /* close() drops the fd from the epoll set: no EPOLL_CTL_DEL needed. */
      close(fd);
      slots[s].fd = -1;
      free_slots[nfree++] = s;
      inflight--;
    }
    if (t - last_sweep >= 100) {
      last_sweep = t;
      for (int s = 0; s < e->concurrency; s++) {
        if (slots[s].fd >= 0 && t - slots[s].started >= e->timeout_ms) {
          fail(e, ETIMEDOUT, slots[s].started, t, &failed);
          close(slots[s].fd);
          slots[s].fd = -1;
          free_slots[nfree++] = s;
          inflight--;
        }
      }
    }
    if (t - last_publish >= 20) {
      last_publish = t;
      publish(e, attempts, ok, failed, stalls);
    }
  }
out:
  publish(e, attempts, ok, failed, stalls);
  if (ep >= 0) close(ep);
  free(slots);
  free(free_slots);
  engine_done(&e->base);
  return NULL;
}

static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  ENGINE_CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 8) {
    napi_throw_type_error(env, NULL, "start(host, port, concurrency, quota, durationMs, connectTimeoutMs, rst, shared)");
    return NULL;
  }
  char host[64];
  size_t host_len = 0;
  int32_t port = 0, concurrency = 0;
  int64_t quota = 0;
  double duration_ms = 0, timeout_ms = 0;
  bool rst = false;
  ENGINE_CHECK(napi_get_value_string_utf8(env, argv[0], host, sizeof host, &host_len));
  ENGINE_CHECK(napi_get_value_int32(env, argv[1], &port));
  ENGINE_CHECK(napi_get_value_int32(env, argv[2], &concurrency));
  ENGINE_CHECK(napi_get_value_int64(env, argv[3], &quota));
  ENGINE_CHECK(napi_get_value_double(env, argv[4], &duration_ms));
  ENGINE_CHECK(napi_get_value_double(env, argv[5], &timeout_ms));
  ENGINE_CHECK(napi_get_value_bool(env, argv[6], &rst));
  int32_t *shared = engine_shared(env, argv[7], SHARED_SLOTS);
  if (!shared) return NULL;
  if (port < 1 || port > 65535 || concurrency < 1 || concurrency > 65536 || quota < 0) {
    napi_throw_range_error(env, NULL, "port, concurrency or quota out of range");
    return NULL;
  }
  engine_t *e = engine_new(env, sizeof *e, host, port, shared, STOP_SLOT);
  if (!e) return NULL;
  e->concurrency = concurrency;
  e->quota = quota;
  e->duration_ms = duration_ms;
  e->timeout_ms = timeout_ms;
  e->rst = rst;
  return engine_launch(env, &e->base, argv[7], run);
}

static napi_value collect(napi_env env, napi_callback_info info) {
  engine_t *e = (engine_t *)engine_joined(env, info);
  if (!e) return NULL;
  return bucket_result(env, e->failures, MAX_ERRNO, e->latency, e->failure);
}

static napi_value init(napi_env env, napi_value exports) {
  if (!engine_exports(env, exports, bucket_index, start, collect)) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
