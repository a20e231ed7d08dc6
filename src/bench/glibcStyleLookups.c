/*
 * The dns bench's second baseline: lookups the way glibc's stub resolver makes them, in C, as fast as the kernel
 * lets. Each lookup: a fresh UDP socket, connect() to the server, the A and the AAAA query sent back to back
 * with one sendmmsg() (ids of their own), both answers read, close. `inflight` lookups at once on one epoll.
 * What it costs beyond dnsperf (which keeps a few sockets for the whole run) is what a fresh source port per
 * lookup costs the kernel: a socket, a conntrack entry and its NAT binding each time. A lookup unanswered after
 * `timeout_ms` counts as failed (no retry: the bench expects none).
 *
 * usage: glibcStyleLookups SERVER PORT ZONE FIRST LOOKUPS INFLIGHT TIMEOUT_MS
 * prints {"lookups":N,"answered":N,"failed":N,"queries":N,"elapsedMs":N}
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  int fd;
  uint16_t ids[2];
  int answered;
  double started;
  unsigned char q[2][300];
  int qlen;
} lookup_t;

static struct sockaddr_in dst;
static const char *zone;
static long next_n, end_n, answered_n, failed_n, queries_n;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* h<n>.<zone> as DNS labels into out; returns its length. */
static int qname(unsigned char *out, long n) {
  char label[32];
  int len = snprintf(label, sizeof label, "h%ld", n);
  int o = 0;
  out[o++] = (unsigned char)len;
  memcpy(out + o, label, len);
  o += len;
  const char *z = zone;
  while (*z) {
    const char *dot = strchr(z, '.');
    int l = dot ? (int)(dot - z) : (int)strlen(z);
    out[o++] = (unsigned char)l;
    memcpy(out + o, z, l);
    o += l;
    z += l + (dot ? 1 : 0);
  }
  out[o++] = 0;
  return o;
}

static int start(int ep, lookup_t *lk) {
  if (next_n >= end_n) return 0;
  long n = next_n++;
  lk->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lk->fd < 0 || connect(lk->fd, (struct sockaddr *)&dst, sizeof dst) < 0) {
    if (lk->fd >= 0) close(lk->fd);
    failed_n++;
    return start(ep, lk);
  }
  uint16_t first = (uint16_t)random();
  unsigned char name[300];
  int nl = qname(name, n);
  struct mmsghdr msgs[2];
  struct iovec iov[2];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < 2; i++) {
    unsigned char *q = lk->q[i];
    lk->ids[i] = (uint16_t)(first + i);
    q[0] = lk->ids[i] >> 8; q[1] = lk->ids[i] & 0xff;
    q[2] = 0x01; q[3] = 0x00; /* RD */
    q[4] = 0; q[5] = 1; memset(q + 6, 0, 6);
    memcpy(q + 12, name, nl);
    int t = i == 0 ? 1 : 28;
    q[12 + nl] = 0; q[13 + nl] = (unsigned char)t; q[14 + nl] = 0; q[15 + nl] = 1;
    lk->qlen = 16 + nl;
    iov[i].iov_base = q;
    iov[i].iov_len = lk->qlen;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  lk->answered = 0;
  lk->started = now_ms();
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = lk };
  epoll_ctl(ep, EPOLL_CTL_ADD, lk->fd, &ev);
  int sent = sendmmsg(lk->fd, msgs, 2, 0);
  queries_n += sent > 0 ? sent : 0;
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: %s SERVER PORT ZONE FIRST LOOKUPS INFLIGHT TIMEOUT_MS\n", argv[0]);
    return 2;
  }
  dst.sin_family = AF_INET;
  dst.sin_port = htons((uint16_t)atoi(argv[2]));
  if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) return 2;
  zone = argv[3];
  next_n = atol(argv[4]);
  end_n = next_n + atol(argv[5]);
  int inflight = atoi(argv[6]);
  double timeout_ms = atof(argv[7]);
  srandom((unsigned)getpid());
  int ep = epoll_create1(EPOLL_CLOEXEC);
  lookup_t *lks = calloc(inflight, sizeof *lks);
  int active = 0;
  double t0 = now_ms();
  for (int i = 0; i < inflight; i++) active += start(ep, &lks[i]);
  struct epoll_event evs[256];
  unsigned char buf[1500];
  double last_sweep = t0;
  while (active > 0) {
    int n = epoll_wait(ep, evs, 256, 100);
    for (int i = 0; i < n; i++) {
      lookup_t *lk = evs[i].data.ptr;
      ssize_t r;
      while ((r = recv(lk->fd, buf, sizeof buf, 0)) >= 12) {
        uint16_t id = (uint16_t)(buf[0] << 8 | buf[1]);
        if (!(buf[2] & 0x80) || r < lk->qlen || memcmp(buf + 12, lk->q[0] + 12, lk->qlen - 16) != 0) continue;
        for (int k = 0; k < 2; k++) if (id == lk->ids[k]) lk->answered |= 1 << k;
      }
      if (lk->answered == 3) {
        close(lk->fd);
        answered_n++;
        active--;
        active += start(ep, lk);
      }
    }
    double t = now_ms();
    if (t - last_sweep >= 100) {
      last_sweep = t;
      for (int i = 0; i < inflight; i++) {
        if (lks[i].fd > 0 && lks[i].answered != 3 && t - lks[i].started > timeout_ms) {
          close(lks[i].fd);
          lks[i].answered = 3;
          failed_n++;
          active--;
          active += start(ep, &lks[i]);
        }
      }
    }
  }
  printf("{\"lookups\":%ld,\"answered\":%ld,\"failed\":%ld,\"queries\":%ld,\"elapsedMs\":%.0f}\n",
         answered_n + failed_n, answered_n, failed_n, queries_n, now_ms() - t0);
  return 0;
}
