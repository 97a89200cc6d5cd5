/* The cleartext transport (recv/sendmsg on the socket, recv(MSG_TRUNC) to
 * drop bulk data in the kernel) and the socket helpers both transports
 * use. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "net/conn_transport.h"

/* Maps a syscall's result: DONE with the count (wire bytes counted),
 * AGAIN, or -errno; EINTR is for the caller to retry (returns 1). */
static int io_result(ssize_t r, uint64_t *wire, size_t *ret_n) {
  if (r >= 0) {
    *wire += (uint64_t)r;
    *ret_n = (size_t)r;
    return NP_IO_DONE;
  }
  if (errno == EINTR) return -EINTR;
  if (errno == EAGAIN || errno == EWOULDBLOCK) return NP_IO_AGAIN;
  return -errno;
}

int np_sock_send(np_conn *c, const struct iovec *iov, int n, size_t *ret_n) {
  struct msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_iov = (struct iovec *)iov;
  m.msg_iovlen = (size_t)n;
  *ret_n = 0;
  int rc;
  int fl = MSG_NOSIGNAL | MSG_DONTWAIT | (c->sock_more ? MSG_MORE : 0);
  do rc = io_result(sendmsg(c->fd, &m, fl), &c->stats.wire_written, ret_n);
  while (rc == -EINTR);
  return rc;
}

int np_sock_recv(np_conn *c, uint8_t *buf, size_t cap, size_t *ret_n) {
  *ret_n = 0;
  int rc;
  do rc = io_result(recv(c->fd, buf, cap, MSG_DONTWAIT), &c->stats.wire_read, ret_n);
  while (rc == -EINTR);
  return rc;
}

static int plain_write(np_conn *c, const struct iovec *iov, int n, size_t *ret_n) {
  int rc = np_sock_send(c, iov, n, ret_n);
  if (rc != NP_IO_DONE) return rc;
  /* A short write means the socket buffer is full: wait for the poll
   * rather than trying again at once. */
  size_t total = 0;
  for (int i = 0; i < n; i++) total += iov[i].iov_len;
  return *ret_n < total ? NP_IO_AGAIN : NP_IO_DONE;
}

/* Drops bytes in the kernel without copying them (TCP honours MSG_TRUNC
 * with a NULL buffer). */
static int plain_discard(np_conn *c, size_t n, size_t *ret_n) {
  *ret_n = 0;
  int rc;
  do rc = io_result(recv(c->fd, NULL, n, MSG_TRUNC | MSG_DONTWAIT), &c->stats.wire_read, ret_n);
  while (rc == -EINTR);
  return rc;
}

static int plain_none(np_conn *c) {
  (void)c;
  return NP_IO_DONE;
}

static int plain_want_write(const np_conn *c) {
  (void)c;
  return 0;
}

const np_transport np_transport_plain = {
    .read = np_sock_recv,
    .write = plain_write,
    .flush = plain_none,
    .shutdown = plain_none,
    .want_write = plain_want_write,
    .discard = plain_discard,
};

static int addr_of(int fd, int peer, char *ip, size_t ipcap, int *ret_port) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
               : getsockname(fd, (struct sockaddr *)&ss, &len);
  if (r < 0) return -errno;
  if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
      if (!inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], ip, (socklen_t)ipcap)) return -errno;
    } else if (!inet_ntop(AF_INET6, &a->sin6_addr, ip, (socklen_t)ipcap)) {
      return -errno;
    }
    *ret_port = ntohs(a->sin6_port);
  } else if (ss.ss_family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    if (!inet_ntop(AF_INET, &a->sin_addr, ip, (socklen_t)ipcap)) return -errno;
    *ret_port = ntohs(a->sin_port);
  } else {
    return -EAFNOSUPPORT;
  }
  return 0;
}

int np_conn_local_addr(const np_conn *c, char *ip, size_t ipcap, int *ret_port) {
  return addr_of(c->fd, 0, ip, ipcap, ret_port);
}

int np_conn_peer_addr(const np_conn *c, char *ip, size_t ipcap, int *ret_port) {
  return addr_of(c->fd, 1, ip, ipcap, ret_port);
}
