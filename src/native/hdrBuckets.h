/*
 * What both native engines (connectEngine.c, dnsEngine.c) share: HdrHistogram-compatible bucket counts for
 * latencies of 1 µs .. 10 min at 3 significant digits (the layout hdr-histogram-js uses, so the JS side rebuilds
 * the histogram from [index, count] pairs: src/agents/nativeConnect.ts), the monotonic clock, and the Node-API
 * pieces that hand counts and the bucket index to JS.
 */
#ifndef REPRO_HDR_BUCKETS_H
#define REPRO_HDR_BUCKETS_H

#include <node_api.h>
#include <stdint.h>
#include <time.h>

/* HdrHistogram layout for lowest value 1, 3 significant digits: 2048 sub-buckets, half of them per bucket. */
#define SUB_BUCKET_HALF_MAGNITUDE 10
#define SUB_BUCKET_HALF_COUNT 1024
#define SUB_BUCKET_MASK 2047
#define HIGHEST_US 600000000LL /* src/histogram.ts: 10 minutes */
#define BUCKETS 21             /* enough for 2^30 > HIGHEST_US */
#define COUNTS ((BUCKETS + 1) * SUB_BUCKET_HALF_COUNT)

static inline double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static inline int counts_index(int64_t v) {
  if (v < 1) v = 1;
  if (v > HIGHEST_US) v = HIGHEST_US;
  int bits = 64 - __builtin_clzll((uint64_t)v | SUB_BUCKET_MASK);
  int bucket = bits - (SUB_BUCKET_HALF_MAGNITUDE + 1);
  int sub = (int)(v >> bucket);
  return ((bucket + 1) << SUB_BUCKET_HALF_MAGNITUDE) + (sub - SUB_BUCKET_HALF_COUNT);
}

/* File a latency given in milliseconds under its microsecond bucket. */
static inline void record(uint64_t *counts, double ms) {
  counts[counts_index((int64_t)(ms * 1000.0 + 0.5))]++;
}

/* [key, count, key, count, ...] of the non-zero entries; NULL when Node-API failed. */
static inline napi_value pairs(napi_env env, const uint64_t *counts, int n) {
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

/* collect()'s result: { failures: [key, count, ...], latency: [index, count, ...], failure: [index, count, ...] }. */
static inline napi_value bucket_result(napi_env env, const uint64_t *failures, int nfailures, const uint64_t *latency, const uint64_t *failure) {
  napi_value out, f, l, fl;
  f = pairs(env, failures, nfailures);
  l = pairs(env, latency, COUNTS);
  fl = pairs(env, failure, COUNTS);
  if (!f || !l || !fl || napi_create_object(env, &out) != napi_ok || napi_set_named_property(env, out, "failures", f) != napi_ok ||
      napi_set_named_property(env, out, "latency", l) != napi_ok || napi_set_named_property(env, out, "failure", fl) != napi_ok) {
    napi_throw_error(env, NULL, "engine: could not build the result");
    return NULL;
  }
  return out;
}

/* bucketIndex(microseconds): the counts index an engine files a latency under (tests hold it against hdr-histogram-js). */
static inline napi_value bucket_index(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  int64_t v = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 || napi_get_value_int64(env, argv[0], &v) != napi_ok) {
    napi_throw_type_error(env, NULL, "bucketIndex(microseconds)");
    return NULL;
  }
  if (napi_create_int32(env, counts_index(v), &out) != napi_ok) return NULL;
  return out;
}

#endif
