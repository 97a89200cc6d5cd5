/* delayline: a bounded userspace forwarder between two TUN devices that holds every packet for a
 * fixed time per direction: the propagation delay of the accuracy lab (docs/lab.md), since this
 * kernel has no netem. */
#include "delayq.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* Reads per device per wakeup: one busy direction cannot starve the other
 * or the timer for long. */
#define READ_BATCH 64
#define SLOT_BYTES 2048 /* > any MTU the lab uses; bigger packets are dropped and counted */

typedef struct {
  const char *name;
  const char *netns; /* NULL: the namespace delayline starts in */
  int fd;
} tundev;

/* One direction: packets read from `from` wait in q, then go out on `to`. */
typedef struct {
  const char *label;
  tundev *from, *to;
  uint64_t delay_ns;
  np_dq q;
  uint64_t write_errors;
} direction;

static uint64_t mono_ns(void) {
  struct timespec ts;
  (void)clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(FILE *f) {
  fprintf(f, "Usage: delayline --a NAME [--netns-a NS] --b NAME [--netns-b NS]\n"
             "                 [--delay MS] [--delay-ab MS] [--delay-ba MS] [--queue PACKETS] "
             "[--rt]\n"
             "Creates TUN devices A and B (IFF_TUN, no packet info), each in its network\n"
             "namespace (a name under /run/netns or a path), and forwards every IP packet\n"
             "read from one to the other after the delay of its direction (milliseconds,\n"
             "fractions allowed; default 0). Each direction holds at most --queue packets\n"
             "(default 4096); arrivals beyond that are dropped and counted. Prints one JSON\n"
             "line when both devices exist ({\"event\":\"ready\"}) and one with the counters\n"
             "on SIGUSR1 and at exit (SIGTERM or SIGINT). --rt: SCHED_FIFO, less jitter on\n"
             "a busy machine.\n");
}

static int parse_ms(const char *s, uint64_t *ret_ns) {
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 10000) return -EINVAL;
  *ret_ns = (uint64_t)llround(v * 1e6);
  return 0;
}

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *ret) {
  char *end = NULL;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -EINVAL;
  *ret = (uint32_t)v;
  return 0;
}

static int enter_netns(const char *ns) {
  char path[256];
  int n = strchr(ns, '/') ? snprintf(path, sizeof(path), "%s", ns)
                          : snprintf(path, sizeof(path), "/run/netns/%s", ns);
  if (n < 0 || (size_t)n >= sizeof(path)) return -ENAMETOOLONG;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int r = setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
  (void)close(fd);
  return r;
}

/* Opens the TUN device in its namespace: a TUN device belongs to the
 * namespace of the process that creates it. The device vanishes when the
 * descriptor closes, so an exit of any kind removes it. */
static int tun_open(tundev *t, int home_ns) {
  struct ifreq ifr;
  if (strlen(t->name) >= sizeof(ifr.ifr_name)) return -ENAMETOOLONG;
  if (t->netns) {
    int r = enter_netns(t->netns);
    if (r < 0) return r;
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  int r = fd < 0 ? -errno : 0;
  if (fd >= 0) {
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    memcpy(ifr.ifr_name, t->name, strlen(t->name));
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
      r = -errno;
      (void)close(fd);
      fd = -1;
    }
  }
  if (t->netns && setns(home_ns, CLONE_NEWNET) < 0 && r == 0) r = -errno;
  t->fd = fd;
  return r;
}

static void print_dir(const direction *d) {
  const np_dq_stats *s = &d->q.st;
  uint64_t mean = s->released ? s->late_sum_ns / s->released : 0;
  printf("\"%s\":{\"delay_us\":%" PRIu64 ",\"enqueued\":%" PRIu64 ",\"released\":%" PRIu64
         ",\"bytes\":%" PRIu64 ",\"dropped_full\":%" PRIu64 ",\"dropped_big\":%" PRIu64
         ",\"write_errors\":%" PRIu64 ",\"depth\":%" PRIu32 ",\"max_depth\":%" PRIu32
         ",\"late_mean_us\":%.1f,\"late_max_us\":%.1f,\"late_over_1ms\":%" PRIu64 "}",
         d->label, d->delay_ns / 1000, s->enqueued, s->released, s->bytes_in, s->dropped_full,
         s->dropped_big, d->write_errors, s->depth, s->max_depth, (double)mean / 1e3,
         (double)s->late_max_ns / 1e3, s->late_over_1ms);
}

static void print_stats(const direction *dirs, const char *event) {
  printf("{\"event\":\"%s\",", event);
  print_dir(&dirs[0]);
  printf(",");
  print_dir(&dirs[1]);
  printf("}\n");
  (void)fflush(stdout);
}

/* Reads what the device has (up to READ_BATCH packets) into the queue. */
static void drain_device(direction *d, uint8_t *scratch) {
  for (int i = 0; i < READ_BATCH; i++) {
    uint8_t *slot = np_dq_tail(&d->q);
    ssize_t n = read(d->from->fd, slot ? slot : scratch, SLOT_BYTES);
    if (n < 0) return; /* EAGAIN, or an error the next wakeup sees again */
    if (!slot) {
      np_dq_drop_full(&d->q);
      continue;
    }
    /* A read that fills the slot may have cut a bigger packet (TUN reads
     * truncate): drop it, counted, rather than forward part of it. */
    if ((size_t)n >= SLOT_BYTES) {
      d->q.st.dropped_big++;
      continue;
    }
    (void)np_dq_commit(&d->q, (size_t)n, mono_ns() + d->delay_ns);
  }
}

/* Sends every due packet; a failed write (device down) is counted and the
 * packet dropped, as a wire would. */
static void release_due(direction *d) {
  uint64_t now = mono_ns();
  size_t len = 0;
  const uint8_t *p;
  while ((p = np_dq_front_due(&d->q, now, &len)) != NULL) {
    if (write(d->to->fd, p, len) != (ssize_t)len) d->write_errors++;
    (void)np_dq_pop(&d->q, now);
  }
}

static int arm_timer(int tfd, const direction *dirs) {
  uint64_t next = UINT64_MAX, due;
  for (int i = 0; i < 2; i++)
    if (np_dq_next_due(&dirs[i].q, &due) == 0 && due < next) next = due;
  struct itimerspec its;
  memset(&its, 0, sizeof(its));
  if (next != UINT64_MAX) {
    if (next == 0) next = 1; /* an all-zero value disarms */
    its.it_value.tv_sec = (time_t)(next / 1000000000u);
    its.it_value.tv_nsec = (long)(next % 1000000000u);
  }
  return timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0 ? -errno : 0;
}

static int run(direction *dirs, tundev *devs, int sfd, int tfd) {
  static uint8_t scratch[SLOT_BYTES];
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return -errno;
  int fds[4] = {devs[0].fd, devs[1].fd, sfd, tfd};
  for (int i = 0; i < 4; i++) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
      int r = -errno;
      (void)close(ep);
      return r;
    }
  }
  int r = 0;
  for (;;) {
    release_due(&dirs[0]);
    release_due(&dirs[1]);
    if ((r = arm_timer(tfd, dirs)) < 0) break;
    struct epoll_event evs[4];
    int n = epoll_wait(ep, evs, 4, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r = -errno;
      break;
    }
    int stop = 0;
    for (int i = 0; i < n; i++) {
      uint32_t w = evs[i].data.u32;
      if (w < 2) {
        drain_device(&dirs[w], scratch); /* dirs[0] reads devs[0], dirs[1] devs[1] */
      } else if (w == 2) {
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
          if (si.ssi_signo == SIGUSR1)
            print_stats(dirs, "stats");
          else
            stop = 1;
        }
      } else {
        uint64_t ticks;
        (void)!read(tfd, &ticks, sizeof(ticks));
      }
    }
    if (stop) break;
  }
  (void)close(ep);
  return r;
}

int main(int argc, char **argv) {
  tundev devs[2] = {{.fd = -1}, {.fd = -1}};
  direction dirs[2] = {{.label = "a_to_b", .from = &devs[0], .to = &devs[1]},
                       {.label = "b_to_a", .from = &devs[1], .to = &devs[0]}};
  uint32_t cap = 4096;
  int rt = 0;
  static const struct option opts[] = {{"a", required_argument, NULL, 'a'},
                                       {"b", required_argument, NULL, 'b'},
                                       {"netns-a", required_argument, NULL, 'A'},
                                       {"netns-b", required_argument, NULL, 'B'},
                                       {"delay", required_argument, NULL, 'd'},
                                       {"delay-ab", required_argument, NULL, 'x'},
                                       {"delay-ba", required_argument, NULL, 'y'},
                                       {"queue", required_argument, NULL, 'q'},
                                       {"rt", no_argument, NULL, 'r'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    int bad = 0;
    switch (c) {
    case 'a':
      devs[0].name = optarg;
      break;
    case 'b':
      devs[1].name = optarg;
      break;
    case 'A':
      devs[0].netns = optarg;
      break;
    case 'B':
      devs[1].netns = optarg;
      break;
    case 'd':
      bad = parse_ms(optarg, &dirs[0].delay_ns) < 0;
      dirs[1].delay_ns = dirs[0].delay_ns;
      break;
    case 'x':
      bad = parse_ms(optarg, &dirs[0].delay_ns) < 0;
      break;
    case 'y':
      bad = parse_ms(optarg, &dirs[1].delay_ns) < 0;
      break;
    case 'q':
      bad = parse_u32(optarg, 1, 1u << 20, &cap) < 0;
      break;
    case 'r':
      rt = 1;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      bad = 1;
    }
    if (bad) {
      fprintf(stderr, "delayline: bad option value\n");
      usage(stderr);
      return 2;
    }
  }
  if (!devs[0].name || !devs[1].name || optind != argc) {
    usage(stderr);
    return 2;
  }

  /* Signals arrive on a descriptor, so the loop sees them between packets. */
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGUSR1);
  sigaddset(&mask, SIGHUP);
  if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) return 1;
  int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  int status = 1, r = 0;
  if (sfd < 0 || tfd < 0 || home < 0) {
    perror("delayline: setup");
    goto out;
  }
  /* Timer slack (50 us by default) would add itself to every release. */
  (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  if (rt) {
    struct sched_param sp = {.sched_priority = 10};
    if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0) perror("delayline: SCHED_FIFO (continuing)");
  }
  for (int i = 0; i < 2; i++) {
    if ((r = np_dq_init(&dirs[i].q, cap, SLOT_BYTES)) < 0) {
      fprintf(stderr, "delayline: queue: %s\n", strerror(-r));
      goto out;
    }
    if ((r = tun_open(&devs[i], home)) < 0) {
      fprintf(stderr, "delayline: TUN %s%s%s: %s\n", devs[i].name, devs[i].netns ? " in " : "",
              devs[i].netns ? devs[i].netns : "", strerror(-r));
      goto out;
    }
  }
  printf("{\"event\":\"ready\",\"a\":\"%s\",\"b\":\"%s\",\"queue\":%" PRIu32 "}\n", devs[0].name,
         devs[1].name, cap);
  (void)fflush(stdout);
  r = run(dirs, devs, sfd, tfd);
  print_stats(dirs, "exit");
  if (r < 0)
    fprintf(stderr, "delayline: %s\n", strerror(-r));
  else
    status = 0;
out:
  for (int i = 0; i < 2; i++) {
    if (devs[i].fd >= 0) (void)close(devs[i].fd);
    np_dq_free(&dirs[i].q);
  }
  if (sfd >= 0) (void)close(sfd);
  if (tfd >= 0) (void)close(tfd);
  if (home >= 0) (void)close(home);
  return status;
}
