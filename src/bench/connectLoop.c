/*
 * The bench's baseline: a minimal C epoll connect loop, the fastest a client can open TCP connections.
 * Keeps CONCURRENCY non-blocking connects in flight until TOTAL have completed or DURATION_MS has passed;
 * closes each connection with RST (SO_LINGER 0) as soon as it is established, like `repro --close rst`.
 * Prints one JSON line: {"attempts":..,"succeeded":..,"failed":..,"stalls":..,"elapsedMs":..,"cpuMs":..,"maxRssKb":..}
 * (cpuMs and maxRssKb: its own getrusage).
 * Built by `npm run bench` with gcc; run inside a client namespace against the harness's server agent.
 * Usage: connect-loop IP PORT CONCURRENCY TOTAL DURATION_MS
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s IP PORT CONCURRENCY TOTAL DURATION_MS\n", argv[0]);
    return 2;
  }
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) return 2;
  int conc = atoi(argv[3]);
  long total = atol(argv[4]);
  double duration = atof(argv[5]);
  int ep = epoll_create1(0);
  double *started = calloc(65536, sizeof(double));
  long attempts = 0, succeeded = 0, failed = 0, stalls = 0, inflight = 0;
  double t0 = now_ms();
  struct linger lg = {.l_onoff = 1, .l_linger = 0};

  for (;;) {
    double t = now_ms();
    while (inflight < conc && attempts < total && t - t0 < duration) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0 || fd >= 65536) { failed++; attempts++; if (fd >= 0) close(fd); continue; }
      attempts++;
      started[fd] = now_ms();
      if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
        failed++;
        close(fd);
        continue;
      }
      struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
      inflight++;
    }
    if (inflight == 0) break;
    struct epoll_event evs[256];
    int n = epoll_wait(ep, evs, 256, 100);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd, err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == 0) {
        succeeded++;
        if (now_ms() - started[fd] >= 900) stalls++;
      } else {
        failed++;
      }
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
      close(fd);
      inflight--;
    }
  }
  double elapsed = now_ms() - t0;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
  printf("{\"attempts\":%ld,\"succeeded\":%ld,\"failed\":%ld,\"stalls\":%ld,\"elapsedMs\":%.1f,\"cpuMs\":%.0f,\"maxRssKb\":%ld}\n", attempts,
         succeeded, failed, stalls, elapsed, cpu_ms, ru.ru_maxrss);
  return 0;
}
