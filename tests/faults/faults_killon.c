/* SPDX-License-Identifier: BSD-3-Clause */
/* faults_killon: send a signal to processes the moment a file appears or is written in a
 * folder (inotify), so that a test can kill a rank inside a short phase (the final write of
 * an output) that polling would miss.
 *
 *   faults_killon DIR SUBSTR create|modify SIGNUM SECONDS PID...
 *   faults_killon /proc/WPID/fd SUBSTR fd SIGNUM SECONDS PID...
 *   faults_killon /proc/WPID/io BYTES rchar SIGNUM SECONDS PID...
 *
 * Waits (at most SECONDS) until a file whose name contains SUBSTR is created (create) or
 * written (modify) in DIR, or (fd) until process WPID has a file open whose path contains
 * SUBSTR (polled every millisecond; a file opened with O_TMPFILE reads "DIR/#N (deleted)"),
 * or (rchar) until process WPID has read at least BYTES bytes in all (its rchar), then sends SIGNUM
 * to every PID. Prints "fired NAME" and exits 0, or exits 1 on time out (or when WPID is gone), 2
 * on bad usage. The watch is in place when it prints "ready". */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/types.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

static double since(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static int poll_fds(const char *fddir, const char *sub, double limit, char *hit, size_t cap) {
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  printf("ready\n");
  fflush(stdout);
  while (since(&t0) < limit) {
    DIR *d = opendir(fddir);
    if (!d)
      return 1; /* the process is gone */
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      char path[4096], link[4096];
      if (e->d_name[0] == '.')
        continue;
      snprintf(path, sizeof path, "%s/%s", fddir, e->d_name);
      ssize_t n = readlink(path, link, sizeof link - 1);
      if (n <= 0)
        continue;
      link[n] = 0;
      if (strstr(link, sub)) {
        snprintf(hit, cap, "%s", link);
        closedir(d);
        return 0;
      }
    }
    closedir(d);
    usleep(1000);
  }
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: faults_killon DIR SUBSTR create|modify|fd SIGNUM SECONDS PID...\n");
    return 2;
  }
  const char *dir = argv[1], *sub = argv[2];
  if (!strcmp(argv[3], "rchar")) {
    unsigned long long want = strtoull(sub, NULL, 10), have = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    printf("ready\n");
    fflush(stdout);
    for (;;) {
      if (since(&t0) > atof(argv[5]))
        return 1;
      FILE *io = fopen(dir, "r");
      if (!io)
        return 1;
      char line[256];
      while (fgets(line, sizeof line, io))
        if (sscanf(line, "rchar: %llu", &have) == 1)
          break;
      fclose(io);
      if (have >= want)
        break;
      usleep(1000);
    }
    for (int i = 6; i < argc; i++)
      kill((pid_t)atol(argv[i]), atoi(argv[4]));
    printf("fired at %llu bytes\n", have);
    return 0;
  }
  if (!strcmp(argv[3], "fd")) {
    char hit[4096];
    if (poll_fds(dir, sub, atof(argv[5]), hit, sizeof hit) != 0)
      return 1;
    for (int i = 6; i < argc; i++)
      kill((pid_t)atol(argv[i]), atoi(argv[4]));
    printf("fired %s\n", hit);
    return 0;
  }
  uint32_t mask = !strcmp(argv[3], "create") ? IN_CREATE | IN_MOVED_TO : IN_MODIFY;
  int sig = atoi(argv[4]);
  double limit = atof(argv[5]);
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0 || inotify_add_watch(fd, dir, mask) < 0) {
    perror("faults_killon: inotify");
    return 2;
  }
  printf("ready\n");
  fflush(stdout);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
  for (;;) {
    double left = limit - since(&t0);
    if (left <= 0)
      return 1;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
      continue;
    ssize_t n = read(fd, buf, sizeof buf);
    for (char *q = buf; n > 0 && q < buf + n;) {
      struct inotify_event *e = (struct inotify_event *)q;
      if (e->len && strstr(e->name, sub)) {
        for (int i = 6; i < argc; i++)
          kill((pid_t)atol(argv[i]), sig);
        printf("fired %s\n", e->name);
        return 0;
      }
      q += sizeof *e + e->len;
    }
  }
}
