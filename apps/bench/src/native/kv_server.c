/*
 * The native reference for the Sun RPC benchmark: kv.x's KV_PROG served by libtirpc, with rpcgen's
 * dispatcher (kv_svc.c from `rpcgen -m`, kv_xdr.c, kv.h: generated at bench time, never committed)
 * and this main, which binds TCP and UDP to 127.0.0.1:PORT itself (rpcgen's generated main binds
 * every interface and registers with rpcbind; this one does neither) and runs svc_run().
 * Usage: kv_server PORT   (0: any free port). Keeps the bench harness's contract (servers/main.ts):
 * prints {"ready":true,"host":"127.0.0.1","port":P,"pid":N} once bound, exits when stdin closes.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <rpc/rpc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "kv.h"

extern void kv_prog_1(struct svc_req *, SVCXPRT *);

#define MAX_KEYS KV_MAX_KEYS
static char *keys[MAX_KEYS];
static char *values[MAX_KEYS];
static u_int lengths[MAX_KEYS];
static int count;

static int find(const char *key) {
  for (int i = 0; i < count; i++)
    if (strcmp(keys[i], key) == 0) return i;
  return -1;
}

void *kvproc_null_1_svc(void *argp, struct svc_req *rqstp) {
  static char result;
  (void)argp;
  (void)rqstp;
  return &result;
}

kv_get_result *kvproc_get_1_svc(kv_key *argp, struct svc_req *rqstp) {
  static kv_get_result result;
  (void)rqstp;
  int i = find(*argp);
  if (i < 0) {
    result.status = KV_NOT_FOUND;
  } else {
    result.status = KV_OK;
    result.kv_get_result_u.value.kv_value_len = lengths[i];
    result.kv_get_result_u.value.kv_value_val = values[i];
  }
  return &result;
}

kv_status *kvproc_put_1_svc(kv_put_args *argp, struct svc_req *rqstp) {
  static kv_status result;
  (void)rqstp;
  int i = find(argp->key);
  if (i < 0) {
    if (count >= MAX_KEYS) {
      result = KV_FULL;
      return &result;
    }
    i = count++;
    keys[i] = strdup(argp->key);
  } else {
    free(values[i]);
  }
  values[i] = malloc(argp->value.kv_value_len + 1);
  memcpy(values[i], argp->value.kv_value_val, argp->value.kv_value_len);
  lengths[i] = argp->value.kv_value_len;
  result = KV_OK;
  return &result;
}

kv_status *kvproc_delete_1_svc(kv_key *argp, struct svc_req *rqstp) {
  static kv_status result;
  (void)rqstp;
  int i = find(*argp);
  if (i < 0) {
    result = KV_NOT_FOUND;
    return &result;
  }
  free(keys[i]);
  free(values[i]);
  count--;
  keys[i] = keys[count];
  values[i] = values[count];
  lengths[i] = lengths[count];
  result = KV_OK;
  return &result;
}

kv_keys *kvproc_list_1_svc(void *argp, struct svc_req *rqstp) {
  static kv_keys result;
  (void)argp;
  (void)rqstp;
  result.kv_keys_len = (u_int)count;
  result.kv_keys_val = keys;
  return &result;
}

int kv_prog_1_freeresult(SVCXPRT *transp, xdrproc_t xdr_result, caddr_t result) {
  (void)transp;
  (void)xdr_result;
  (void)result;
  return 1; /* results are static or owned by the store */
}

static void *watch_stdin(void *arg) {
  char buf[256];
  (void)arg;
  while (read(0, buf, sizeof buf) > 0) {
  }
  _exit(0);
  return NULL;
}

static int bound(int type, int port) {
  int fd = socket(AF_INET, type, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    perror("bind");
    exit(1);
  }
  return fd;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  int port = atoi(argv[1]);
  int tcp = bound(SOCK_STREAM, port);
  if (port == 0) {
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    getsockname(tcp, (struct sockaddr *)&addr, &len);
    port = ntohs(addr.sin_port);
  }
  int udp = bound(SOCK_DGRAM, port);
  if (listen(tcp, 128) != 0) {
    perror("listen");
    return 1;
  }
  SVCXPRT *t = svctcp_create(tcp, 0, 0);
  SVCXPRT *u = svcudp_create(udp);
  /* protocol 0: do not register with rpcbind */
  if (!t || !u || !svc_register(t, KV_PROG, KV_V1, kv_prog_1, 0) || !svc_register(u, KV_PROG, KV_V1, kv_prog_1, 0)) {
    fprintf(stderr, "cannot create the RPC transports\n");
    return 1;
  }
  pthread_t watcher;
  pthread_create(&watcher, NULL, watch_stdin, NULL);
  printf("{\"ready\":true,\"host\":\"127.0.0.1\",\"port\":%d,\"pid\":%d}\n", port, (int)getpid());
  fflush(stdout);
  svc_run();
  return 1;
}
