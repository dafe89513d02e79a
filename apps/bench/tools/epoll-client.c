/*
 * A second load generator for the bench's idle and ping-pong figures, independent of the bench's
 * own (Node) one: plain C, one thread, epoll, non-blocking sockets. Compiled by
 * tools/second-loadgen.mjs at run time (cc -O2).
 *
 *   epoll-client idle HOST PORT N MESSAGE EXPECT
 *     Opens N connections (200 connecting at a time; past 20 000, from 127.0.0.2, 127.0.0.3, ...
 *     when HOST is 127.0.0.1, since one source address has too few ephemeral ports), sends MESSAGE
 *     on each ("%d" becomes the connection's index, "\n" a newline) and waits until EXPECT
 *     newlines have come back. Prints "up OK FAILED" once every connection is up or failed, then
 *     holds them all until its stdin closes.
 *   epoll-client pingpong HOST PORT CONNECTIONS SIZE SECONDS
 *     CONNECTIONS connections, each with one SIZE-byte message in flight (letters, a newline
 *     last): send, read the whole echo, send again. After SECONDS prints "REQUESTS ELAPSED_S".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 200
#define PER_SOURCE 20000

struct conn {
  int fd;
  int state; /* 0 connecting, 1 waiting for the reply, 2 up, 3 failed */
  int got;   /* idle: newlines received; pingpong: bytes of the echo received */
};

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what) {
  perror(what);
  exit(2);
}

static int open_conn(const char *host, int port, int index, int epfd, struct conn *c) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (index >= PER_SOURCE && strcmp(host, "127.0.0.1") == 0) {
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = 0};
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.%d", 1 + index / PER_SOURCE);
    inet_pton(AF_INET, addr, &src.sin_addr);
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
      close(fd);
      return -1;
    }
  }
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, host, &dst.sin_addr);
  if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  c->fd = fd;
  c->state = 0;
  c->got = 0;
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
  return 0;
}

/* MESSAGE with "%d" replaced by the index and the two characters "\n" by a newline. */
static int format_message(char *out, size_t size, const char *message, int index) {
  size_t n = 0;
  for (const char *p = message; *p && n + 16 < size; p++) {
    if (p[0] == '%' && p[1] == 'd') {
      n += snprintf(out + n, size - n, "%d", index);
      p++;
    } else if (p[0] == '\\' && p[1] == 'n') {
      out[n++] = '\n';
      p++;
    } else
      out[n++] = *p;
  }
  return (int)n;
}

static int idle(const char *host, int port, int n, const char *message, int expect) {
  struct conn *conns = calloc(n, sizeof *conns);
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event events[256];
  char buf[4096];
  int opened = 0, pending = 0, up = 0, failed = 0;
  double deadline = now() + 120;
  while (up + failed < n && now() < deadline) {
    while (opened < n && pending < BATCH) {
      if (open_conn(host, port, opened, epfd, &conns[opened]) < 0) {
        conns[opened].state = 3;
        failed++;
      } else
        pending++;
      opened++;
    }
    int k = epoll_wait(epfd, events, 256, 1000);
    for (int i = 0; i < k; i++) {
      struct conn *c = events[i].data.ptr;
      int index = (int)(c - conns);
      if (c->state >= 2) continue;
      if (events[i].events & (EPOLLERR | EPOLLHUP)) goto fail;
      if (c->state == 0 && (events[i].events & EPOLLOUT)) {
        char msg[256];
        int len = format_message(msg, sizeof msg, message, index);
        if (write(c->fd, msg, len) != len) goto fail;
        c->state = 1;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
      }
      if (events[i].events & EPOLLIN) {
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r <= 0) goto fail;
        for (ssize_t j = 0; j < r; j++) c->got += buf[j] == '\n';
        if (c->got >= expect) {
          c->state = 2;
          up++;
          pending--;
          /* Held, not watched: an idle connection costs the server, not this loop. */
          epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        }
      }
      continue;
    fail:
      c->state = 3;
      failed++;
      pending--;
      epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
      close(c->fd);
    }
  }
  printf("up %d %d\n", up, n - up);
  fflush(stdout);
  while (read(0, buf, sizeof buf) > 0) {
  }
  return 0;
}

static int pingpong(const char *host, int port, int n, int size, double seconds) {
  struct conn *conns = calloc(n, sizeof *conns);
  char *payload = malloc(size), *buf = malloc(size > 65536 ? size : 65536);
  for (int i = 0; i < size; i++) payload[i] = 'a' + i % 26;
  payload[size - 1] = '\n';
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  for (int i = 0; i < n; i++)
    if (open_conn(host, port, i, epfd, &conns[i]) < 0) die("connect");
  struct epoll_event events[256];
  long requests = 0;
  double start = now(), end = start + seconds;
  while (now() < end) {
    int k = epoll_wait(epfd, events, 256, 100);
    for (int i = 0; i < k; i++) {
      struct conn *c = events[i].data.ptr;
      if (events[i].events & (EPOLLERR | EPOLLHUP)) die("connection closed");
      if (c->state == 0) {
        if (!(events[i].events & EPOLLOUT)) continue;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->state = 1;
        if (write(c->fd, payload, size) != size) die("write");
        continue;
      }
      ssize_t r = read(c->fd, buf, size - c->got);
      if (r <= 0) die("read");
      c->got += (int)r;
      if (c->got < size) continue;
      c->got = 0;
      requests++;
      if (write(c->fd, payload, size) != size) die("write");
    }
  }
  printf("%ld %.3f\n", requests, now() - start);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 7 && strcmp(argv[1], "idle") == 0)
    return idle(argv[2], atoi(argv[3]), atoi(argv[4]), argv[5], atoi(argv[6]));
  if (argc == 7 && strcmp(argv[1], "pingpong") == 0)
    return pingpong(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atof(argv[6]));
  fprintf(stderr,
          "usage: %s idle HOST PORT N MESSAGE EXPECT\n"
          "       %s pingpong HOST PORT CONNECTIONS SIZE SECONDS\n",
          argv[0], argv[0]);
  return 2;
}
