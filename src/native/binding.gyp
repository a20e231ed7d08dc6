{
  "targets": [
    {
      "target_name": "connect_engine",
      "sources": ["connectEngine.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "defines": ["NAPI_VERSION=8"]
    },
    {
      "target_name": "dns_engine",
      "sources": ["dnsEngine.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "defines": ["NAPI_VERSION=8"]
    },
    {
      "target_name": "burst_engine",
      "sources": ["burstEngine.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
