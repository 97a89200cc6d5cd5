/* Internal to net/: the connection object shared by conn.c (state,
 * flushing, read loop), conn_queue.c (write queue bookkeeping) and the
 * two transports that move its bytes, plain TCP (conn_plain.c) and TLS
 * (conn_tls.c). Nothing outside src/net/ includes this header. */
#ifndef NP_NET_CONN_TRANSPORT_H
#define NP_NET_CONN_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <openssl/ssl.h>

#include "net/conn.h"

/* The read buffer starts at NP_CONN_RBUF_MIN and grows to NP_CONN_RBUF_CAP
 * the first time a read fills it (conn.c, rbuf_grow). */
#define NP_CONN_RBUF_MIN (4 * 1024)
#define NP_CONN_RBUF_CAP (64 * 1024)

/* Result of a transport operation: NP_IO_DONE (progress made; for read, 0
 * bytes means the peer's orderly end), NP_IO_AGAIN (would block: wait for
 * the poll), or a negative error. */
enum { NP_IO_DONE = 0, NP_IO_AGAIN = 1 };

typedef struct np_transport {
  /* Reads at most cap bytes of stream data (plaintext) into buf. */
  int (*read)(np_conn *c, uint8_t *buf, size_t cap, size_t *ret_n);
  /* Writes a prefix of iov[0..n) (plaintext); *ret_n is how much. */
  int (*write)(np_conn *c, const struct iovec *iov, int n, size_t *ret_n);
  /* Pushes out bytes the transport itself holds (TLS records). DONE when
   * none are left. */
  int (*flush)(np_conn *c);
  /* Sends the transport's end of stream (TLS close_notify) before FIN. */
  int (*shutdown)(np_conn *c);
  /* Whether the transport holds bytes that wait for a writable socket. */
  int (*want_write)(const np_conn *c);
  /* Drops up to n stream bytes unread (kernel-side for plain TCP); NULL if
   * the transport must read and discard them. */
  int (*discard)(np_conn *c, size_t n, size_t *ret_n);
} np_transport;

extern const np_transport np_transport_plain;
extern const np_transport np_transport_tls;

/* One gathered write: its iovecs and its copied bytes live in this one
 * heap block, so cost is what the allocation really holds. */
typedef struct np_wreq {
  struct np_wreq *next;
  np_conn_write_cb cb;
  void *arg;
  size_t cost; /* bytes of memory charged to the queue */
  size_t left; /* payload bytes not yet written */
  int n;       /* iovecs */
  int idx;     /* first iovec with bytes left */
  struct iovec iov[];
} np_wreq;

enum { ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSING, ST_CLOSED };

struct np_conn {
  uv_loop_t *loop;
  uv_poll_t poll;
  uv_timer_t linger;
  const np_transport *tp;
  int fd;
  int state;
  int poll_events;
  int read_enabled;
  int is_client;
  int in_callback;
  int close_status;
  int handles_open;
  np_conn_callbacks cbs;
  void *ud;
  /* read side */
  uint8_t *rbuf;
  size_t rcap; /* NP_CONN_RBUF_MIN or NP_CONN_RBUF_CAP */
  size_t rlen;
  uint64_t skip;
  size_t read_hint; /* the next read after a skip reads at most this */
  int rcvlowat;     /* SO_RCVLOWAT currently set (cleartext skipping) */
  int peer_eof;
  /* write side */
  np_wreq *head;
  np_wreq *tail;
  np_wreq *done; /* finished requests whose callback has not run yet */
  np_wreq *done_tail;
  size_t pending; /* payload bytes queued */
  size_t mem;     /* memory the queue holds (see np_conn_queue_mem) */
  size_t mem_cap;
  size_t lowat;
  int want_writable_cb;
  int fin_sent;
  /* TLS (conn_tls.c) */
  SSL *ssl;
  size_t tls_retry_len; /* length of an SSL_write to retry as it was */
  int tls_wblocked;     /* the socket refused a record: wait for POLLOUT */
  int sock_more;        /* more records follow at once: send with MSG_MORE */
  int tls_eof;          /* the socket read its end */
  int tls_sock_err;     /* the socket's own error (-errno), if any */
  int no_pull;          /* reads use only what the engine holds */
  uint8_t first_bytes[8];
  size_t nfirst;
  char alpn[32];
  np_conn_stats stats;
};

/* Socket helpers: NP_IO_DONE with *ret_n > 0 (or 0 = EOF for recv),
 * NP_IO_AGAIN, or -errno. They count wire bytes. */
int np_sock_send(np_conn *c, const struct iovec *iov, int n, size_t *ret_n);
int np_sock_recv(np_conn *c, uint8_t *buf, size_t cap, size_t *ret_n);

/* conn_queue.c: the write queue's bookkeeping (no I/O, no callbacks).
 * Queues bufs (copying those without .ref) and charges the memory held:
 * 0, NP_E_CLOSED, -EINVAL, -ENOBUFS over the queue's cap, or -ENOMEM. */
int np_conn_queue_add(np_conn *c, const np_conn_buf *bufs, int n, np_conn_write_cb cb, void *arg);
/* Consumes n written bytes from the head; finished requests go to the
 * done list (or are freed when they have no callback). */
void np_conn_queue_advance(np_conn *c, size_t n);
/* Frees one request and uncharges its memory. */
void np_conn_req_free(np_conn *c, np_wreq *r);

/* conn_tls.c: attaches an SSL object (server or client role). */
int np_conn_tls_setup(np_conn *c, np_tls_ctx *tls, const char *server_name);
/* Drives the handshake: NP_IO_DONE once finished, NP_IO_AGAIN, or error. */
int np_conn_tls_handshake(np_conn *c);
void np_conn_tls_free(np_conn *c);
/* Whether the engine holds input that no poll event will announce. */
int np_conn_tls_buffered(const np_conn *c);

#endif
