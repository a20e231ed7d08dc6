/*
 * The SNAT port race provoked on purpose (DESIGN.md "Race provoked on purpose"): two threads, each in its own client
 * network namespace and on its own CPU, bind the same source port and connect to one destination at the same instant,
 * round after round, one fresh port per round. Behind a no-flag MASQUERADE both SYNs keep the port, the second
 * conntrack insert fails and the kernel drops that SYN (insert_failed, drop).
 *
 * usage: samePortRace NETNS_PATH_A NETNS_PATH_B DST_IP DST_PORT FIRST_SRC_PORT ROUNDS
 * prints: rounds=N unanswered=M (connects that got neither SYN-ACK nor RST within the wait: the dropped SYNs)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 30

static struct sockaddr_in dst;
static int first_port, rounds;
static atomic_int arrived, generation;
static atomic_long unanswered;

/* A spinning barrier: the two connects leave within a microsecond or so, which a sleeping barrier cannot promise. */
static void barrier(void) {
  int gen = atomic_load(&generation);
  if (atomic_fetch_add(&arrived, 1) == 1) {
    atomic_store(&arrived, 0);
    atomic_fetch_add(&generation, 1);
  } else {
    while (atomic_load(&generation) == gen) {
    }
  }
}

static void die(const char *what) {
  perror(what);
  exit(2);
}

struct worker {
  const char *netns;
  int cpu;
};

static void *run(void *arg) {
  struct worker *w = arg;
  int fd = open(w->netns, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) die(w->netns);
  close(fd);
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(w->cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set); /* best effort: one CPU is enough to build, not to race */
  for (int i = 0; i < rounds; i++) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (s < 0) die("socket");
    int one = 1;
    struct linger rst = {1, 0};
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(s, SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = htons((unsigned short)(first_port + i))};
    if (bind(s, (struct sockaddr *)&src, sizeof src) != 0) die("bind");
    barrier();
    if (connect(s, (struct sockaddr *)&dst, sizeof dst) != 0 && errno != EINPROGRESS) die("connect");
    struct pollfd p = {.fd = s, .events = POLLOUT};
    if (poll(&p, 1, WAIT_MS) == 0) atomic_fetch_add(&unanswered, 1);
    close(s);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: %s NETNS_A NETNS_B DST_IP DST_PORT FIRST_SRC_PORT ROUNDS\n", argv[0]);
    return 2;
  }
  dst.sin_family = AF_INET;
  dst.sin_port = htons((unsigned short)atoi(argv[4]));
  if (inet_pton(AF_INET, argv[3], &dst.sin_addr) != 1) die("DST_IP");
  first_port = atoi(argv[5]);
  rounds = atoi(argv[6]);
  if (first_port < 1024 || rounds < 1 || first_port + rounds > 65536) {
    fprintf(stderr, "ports %d..%d out of range\n", first_port, first_port + rounds - 1);
    return 2;
  }
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  struct worker a = {argv[1], 0}, b = {argv[2], cpus > 1 ? 1 : 0};
  pthread_t ta, tb;
  if (pthread_create(&ta, NULL, run, &a) != 0 || pthread_create(&tb, NULL, run, &b) != 0) die("pthread_create");
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  printf("rounds=%d unanswered=%ld\n", rounds, atomic_load(&unanswered));
  return 0;
}
