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

/* HdrHistogram layout for lowest value 1, 3 significant digits: 2048 sub-buckets, half of them per bucket. */
#define SUB_BUCKET_HALF_MAGNITUDE 10
#define SUB_BUCKET_HALF_COUNT 1024
#define SUB_BUCKET_MASK 2047
#define HIGHEST_US 600000000LL /* src/histogram.ts: 10 minutes */
#define BUCKETS 21 /* enough for 2^30 > HIGHEST_US */
#define COUNTS ((BUCKETS + 1) * SUB_BUCKET_HALF_COUNT)
#define MAX_ERRNO 4096
#define STALL_US 900000
#define SHARED_SLOTS 8
#define ABORTED 0 /* failures[0]: attempts given up at a stop (no errno is 0) */

typedef struct {
  struct sockaddr_storage dst;
  socklen_t dst_len;
  int family;
  int concurrency;
  int64_t quota;
  double duration_ms;
  double timeout_ms;
  int rst;
  int32_t *shared; /* backed by a SharedArrayBuffer the JS side keeps alive through `shared_ref` */
  napi_ref shared_ref;
  uint64_t latency[COUNTS];
  uint64_t failure[COUNTS];
  uint64_t failures[MAX_ERRNO];
  pthread_t thread;
  volatile int finished;
  int joined;
} engine_t;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int counts_index(int64_t v) {
  if (v < 1) v = 1;
  if (v > HIGHEST_US) v = HIGHEST_US;
  int bits = 64 - __builtin_clzll((uint64_t)v | SUB_BUCKET_MASK);
  int bucket = bits - (SUB_BUCKET_HALF_MAGNITUDE + 1);
  int sub = (int)(v >> bucket);
  return ((bucket + 1) << SUB_BUCKET_HALF_MAGNITUDE) + (sub - SUB_BUCKET_HALF_COUNT);
}

static void record(uint64_t *counts, double ms) {
  counts[counts_index((int64_t)(ms * 1000.0 + 0.5))]++;
}

static void publish(engine_t *e, int64_t attempts, int64_t ok, int64_t failed, int64_t stalls) {
  __atomic_store_n(&e->shared[0], (int32_t)attempts, __ATOMIC_RELAXED);
  __atomic_store_n(&e->shared[1], (int32_t)ok, __ATOMIC_RELAXED);
  __atomic_store_n(&e->shared[2], (int32_t)failed, __ATOMIC_RELAXED);
  __atomic_store_n(&e->shared[3], (int32_t)stalls, __ATOMIC_RELAXED);
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
    int stop = __atomic_load_n(&e->shared[4], __ATOMIC_RELAXED);
    while (!stop && nfree > 0 && attempts < e->quota && t - t0 < e->duration_ms) {
      int s = free_slots[--nfree];
      attempts++;
      int fd = socket(e->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      double started = now_ms();
      if (fd < 0) {
        fail(e, errno, started, started, &failed);
        free_slots[nfree++] = s;
        continue;
      }
      if (connect(fd, (struct sockaddr *)&e->dst, e->dst_len) < 0 && errno != EINPROGRESS) {
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
  __atomic_store_n(&e->finished, 1, __ATOMIC_RELEASE);
  return NULL;
}

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "connect engine: " #call " failed"); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static void engine_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  engine_t *e = data;
  if (!e->joined) {
    __atomic_store_n(&e->shared[4], 1, __ATOMIC_RELAXED);
    pthread_join(e->thread, NULL);
  }
  if (e->shared_ref) napi_delete_reference(env, e->shared_ref);
  free(e);
}

static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
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
  CHECK(napi_get_value_string_utf8(env, argv[0], host, sizeof host, &host_len));
  CHECK(napi_get_value_int32(env, argv[1], &port));
  CHECK(napi_get_value_int32(env, argv[2], &concurrency));
  CHECK(napi_get_value_int64(env, argv[3], &quota));
  CHECK(napi_get_value_double(env, argv[4], &duration_ms));
  CHECK(napi_get_value_double(env, argv[5], &timeout_ms));
  CHECK(napi_get_value_bool(env, argv[6], &rst));
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  CHECK(napi_get_typedarray_info(env, argv[7], &type, &length, &data, NULL, NULL));
  if (type != napi_int32_array || length < SHARED_SLOTS) {
    napi_throw_type_error(env, NULL, "shared must be an Int32Array of 8");
    return NULL;
  }
  if (port < 1 || port > 65535 || concurrency < 1 || concurrency > 65536 || quota < 0) {
    napi_throw_range_error(env, NULL, "port, concurrency or quota out of range");
    return NULL;
  }
  engine_t *e = calloc(1, sizeof *e);
  if (!e) {
    napi_throw_error(env, NULL, "connect engine: out of memory");
    return NULL;
  }
  struct sockaddr_in *v4 = (struct sockaddr_in *)&e->dst;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&e->dst;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    e->dst_len = sizeof *v4;
    e->family = AF_INET;
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    e->dst_len = sizeof *v6;
    e->family = AF_INET6;
  } else {
    free(e);
    napi_throw_type_error(env, NULL, "host must be an IP address");
    return NULL;
  }
  e->concurrency = concurrency;
  e->quota = quota;
  e->duration_ms = duration_ms;
  e->timeout_ms = timeout_ms;
  e->rst = rst;
  e->shared = data;
  CHECK(napi_create_reference(env, argv[7], 1, &e->shared_ref));
  if (pthread_create(&e->thread, NULL, run, e) != 0) {
    napi_delete_reference(env, e->shared_ref);
    free(e);
    napi_throw_error(env, NULL, "connect engine: pthread_create failed");
    return NULL;
  }
  napi_value external;
  CHECK(napi_create_external(env, e, engine_finalize, NULL, &external));
  return external;
}

static engine_t *engine_arg(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *e = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 ||
      napi_get_value_external(env, argv[0], &e) != napi_ok || !e) {
    napi_throw_type_error(env, NULL, "expected a connect engine");
    return NULL;
  }
  return e;
}

static napi_value finished(napi_env env, napi_callback_info info) {
  engine_t *e = engine_arg(env, info);
  if (!e) return NULL;
  napi_value out;
  CHECK(napi_get_boolean(env, __atomic_load_n(&e->finished, __ATOMIC_ACQUIRE) != 0, &out));
  return out;
}

/* [key, count, key, count, ...] of the non-zero entries. */
static napi_value pairs(napi_env env, const uint64_t *counts, int n) {
  napi_value arr, v;
  uint32_t k = 0;
  if (napi_create_array(env, &arr) != napi_ok) return NULL;
  for (int i = 0; i < n; i++) {
    if (!counts[i]) continue;
    if (napi_create_int32(env, i, &v) != napi_ok || napi_set_element(env, arr, k++, v) != napi_ok) return NULL;
    if (napi_create_double(env, (double)counts[i], &v) != napi_ok || napi_set_element(env, arr, k++, v) != napi_ok) return NULL;
  }
  return arr;
}

static napi_value collect(napi_env env, napi_callback_info info) {
  engine_t *e = engine_arg(env, info);
  if (!e) return NULL;
  if (!__atomic_load_n(&e->finished, __ATOMIC_ACQUIRE)) {
    napi_throw_error(env, NULL, "connect engine: collect before the loop finished");
    return NULL;
  }
  if (!e->joined) {
    pthread_join(e->thread, NULL);
    e->joined = 1;
  }
  napi_value out, failures, latency, failure;
  CHECK(napi_create_object(env, &out));
  failures = pairs(env, e->failures, MAX_ERRNO);
  latency = pairs(env, e->latency, COUNTS);
  failure = pairs(env, e->failure, COUNTS);
  if (!failures || !latency || !failure) {
    napi_throw_error(env, NULL, "connect engine: could not build the result");
    return NULL;
  }
  CHECK(napi_set_named_property(env, out, "failures", failures));
  CHECK(napi_set_named_property(env, out, "latency", latency));
  CHECK(napi_set_named_property(env, out, "failure", failure));
  return out;
}

/* The counts index the engine files a latency (µs) under: tests hold it against hdr-histogram-js. */
static napi_value bucket_index(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  int64_t v = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 1 || napi_get_value_int64(env, argv[0], &v) != napi_ok) {
    napi_throw_type_error(env, NULL, "bucketIndex(microseconds)");
    return NULL;
  }
  CHECK(napi_create_int32(env, counts_index(v), &out));
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"bucketIndex", NULL, bucket_index, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, start, NULL, NULL, NULL, napi_default, NULL},
      {"finished", NULL, finished, NULL, NULL, NULL, napi_default, NULL},
      {"collect", NULL, collect, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
