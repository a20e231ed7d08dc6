/*
 * The frame both native engines (connectEngine.c, dnsEngine.c) run in: an engine is a calloc'd struct whose first
 * member is an engine_base_t; its loop runs on a pthread of its own; JS holds it as a Node-API external, reads
 * live counts from a shared Int32Array (a SharedArrayBuffer kept alive by a reference) and sets the stop slot
 * there; `finished(engine)` polls, and the engine's collect() joins the thread before handing over its counts.
 */
#ifndef REPRO_ENGINE_THREAD_H
#define REPRO_ENGINE_THREAD_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct {
  struct sockaddr_storage dst; /* where the engine's sockets connect to */
  socklen_t dst_len;
  int family;
  int32_t *shared; /* backed by a SharedArrayBuffer the JS side keeps alive through `shared_ref` */
  napi_ref shared_ref;
  int stop_slot;
  pthread_t thread;
  volatile int finished;
  int joined;
} engine_base_t;

/* host (an IP literal) and port as a socket address; the address family, or 0 when host is no IP address. */
static inline int engine_address(const char *host, int port, struct sockaddr_storage *dst, socklen_t *len) {
  struct sockaddr_in *v4 = (struct sockaddr_in *)dst;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)dst;
  memset(dst, 0, sizeof *dst);
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    *len = sizeof *v4;
    return AF_INET;
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    *len = sizeof *v6;
    return AF_INET6;
  }
  return 0;
}

/* The Int32Array of at least `slots` elements a JS argument must be; NULL (with a TypeError thrown) otherwise. */
static inline int32_t *engine_shared(napi_env env, napi_value value, size_t slots) {
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, NULL, NULL) != napi_ok || type != napi_int32_array || length < slots) {
    napi_throw_type_error(env, NULL, "shared must be an Int32Array of 8");
    return NULL;
  }
  return data;
}

/* In a Node-API callback: a failed call throws and returns NULL. */
#define ENGINE_CHECK(call)                                        \
  do {                                                            \
    if ((call) != napi_ok) {                                      \
      napi_throw_error(env, NULL, "engine: " #call " failed");    \
      return NULL;                                                \
    }                                                             \
  } while (0)

/* A zeroed engine of `size` bytes (base first) connecting to host:port and publishing into `shared`;
 * NULL (with an error thrown) when host is no IP address or memory is short. */
static inline void *engine_new(napi_env env, size_t size, const char *host, int port, int32_t *shared, int stop_slot) {
  engine_base_t *b = calloc(1, size);
  if (!b) {
    napi_throw_error(env, NULL, "engine: out of memory");
    return NULL;
  }
  b->family = engine_address(host, port, &b->dst, &b->dst_len);
  if (!b->family) {
    free(b);
    napi_throw_type_error(env, NULL, "the address must be an IP address");
    return NULL;
  }
  b->shared = shared;
  b->stop_slot = stop_slot;
  return b;
}

static inline void engine_done(engine_base_t *b) {
  __atomic_store_n(&b->finished, 1, __ATOMIC_RELEASE);
}

static inline int engine_stopped(engine_base_t *b) {
  return __atomic_load_n(&b->shared[b->stop_slot], __ATOMIC_RELAXED) != 0;
}

static inline void engine_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  engine_base_t *b = data;
  if (!b->joined) {
    __atomic_store_n(&b->shared[b->stop_slot], 1, __ATOMIC_RELAXED);
    pthread_join(b->thread, NULL);
  }
  if (b->shared_ref) napi_delete_reference(env, b->shared_ref);
  free(b);
}

/* Start `run(engine)` on its own thread; the engine (calloc'd, base first, `shared` set) is the external returned.
 * On failure the engine is freed and an error thrown. */
static inline napi_value engine_launch(napi_env env, engine_base_t *b, napi_value shared_value, void *(*run)(void *)) {
  napi_value external;
  if (napi_create_reference(env, shared_value, 1, &b->shared_ref) != napi_ok) {
    free(b);
    napi_throw_error(env, NULL, "engine: napi_create_reference failed");
    return NULL;
  }
  if (pthread_create(&b->thread, NULL, run, b) != 0) {
    napi_delete_reference(env, b->shared_ref);
    free(b);
    napi_throw_error(env, NULL, "engine: pthread_create failed");
    return NULL;
  }
  if (napi_create_external(env, b, engine_finalize, NULL, &external) != napi_ok) {
    engine_finalize(env, b, NULL);
    napi_throw_error(env, NULL, "engine: napi_create_external failed");
    return NULL;
  }
  return external;
}

/* The engine a JS call's only argument is; NULL (with a TypeError thrown) otherwise. */
static inline engine_base_t *engine_arg(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *e = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 ||
      napi_get_value_external(env, argv[0], &e) != napi_ok || !e) {
    napi_throw_type_error(env, NULL, "expected an engine");
    return NULL;
  }
  return e;
}

/* finished(engine) -> boolean */
static inline napi_value engine_finished(napi_env env, napi_callback_info info) {
  engine_base_t *b = engine_arg(env, info);
  napi_value out;
  if (!b || napi_get_boolean(env, __atomic_load_n(&b->finished, __ATOMIC_ACQUIRE) != 0, &out) != napi_ok) return NULL;
  return out;
}

/* The engine of a collect(engine) call, its thread joined; NULL (with an error thrown) before the loop finished. */
static inline engine_base_t *engine_joined(napi_env env, napi_callback_info info) {
  engine_base_t *b = engine_arg(env, info);
  if (!b) return NULL;
  if (!__atomic_load_n(&b->finished, __ATOMIC_ACQUIRE)) {
    napi_throw_error(env, NULL, "engine: collect before the loop finished");
    return NULL;
  }
  if (!b->joined) {
    pthread_join(b->thread, NULL);
    b->joined = 1;
  }
  return b;
}

/* The functions both engines export: bucketIndex (hdrBuckets.h), start, finished, collect. */
static inline napi_value engine_exports(napi_env env, napi_value exports, napi_callback bucket_index_fn, napi_callback start, napi_callback collect) {
  napi_property_descriptor props[] = {
      {"bucketIndex", NULL, bucket_index_fn, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, start, NULL, NULL, NULL, napi_default, NULL},
      {"finished", NULL, engine_finished, NULL, NULL, NULL, napi_default, NULL},
      {"collect", NULL, collect, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

#endif
