/* One stream transport for plain TCP and TLS over a non-blocking socket,
 * driven by libuv's poll watcher. Reads are pushed to the owner through a
 * callback; writes are gathered (copies and references in one request)
 * with a completion callback. The transports behind it are in
 * conn_plain.c and conn_tls.c. */
#ifndef NP_NET_CONN_H
#define NP_NET_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "core/slice.h"
#include "net/tls.h"

typedef struct np_conn np_conn;

/* Callbacks; ud is the owner's pointer given to np_conn_set_callbacks.
 * on_data: data[0..len) arrived (decrypted for TLS). Returns how many bytes
 *   it consumed; the rest stays buffered and is offered again with more.
 *   data is NULL when len bytes were dropped unread (see np_conn_skip).
 *   The buffer is writable: the owner may modify it in place.
 * on_writable: the socket is writable and the queue holds <= lowat bytes
 *   (see np_conn_want_writable; bulk senders refill here).
 * on_connected: (client conns) TCP connected and, for TLS, the handshake is
 *   done; status < 0 on failure (then on_close follows).
 * on_close: the connection is closed (status 0 = clean EOF handled, or a
 *   negative error such as NP_E_CLOSED, -ECONNRESET, NP_E_TLS). After this
 *   returns, the conn memory is freed: do not touch it again. Called exactly
 *   once, also after np_conn_close. */
typedef struct {
  size_t (*on_data)(np_conn *c, void *ud, uint8_t *data, size_t len);
  void (*on_writable)(np_conn *c, void *ud);
  void (*on_connected)(np_conn *c, void *ud, int status);
  void (*on_close)(np_conn *c, void *ud, int status);
} np_conn_callbacks;

/* Byte counters of one connection (application layer, before TLS). */
typedef struct {
  uint64_t app_read;     /* payload bytes delivered or skipped */
  uint64_t app_written;  /* payload bytes fully handed to the kernel/TLS */
  uint64_t wire_read;    /* bytes read from the socket */
  uint64_t wire_written; /* bytes written to the socket */
  uint64_t start_ns;     /* monotonic: accepted, or connect() started */
  uint64_t handshake_ns; /* monotonic: TLS handshake done (0: none yet / cleartext) */
  uint64_t connect_ns;   /* monotonic: TCP connect completed (client conns; 0: not yet) */
} np_conn_stats;

/* Wraps an accepted, connected socket fd (takes ownership; the fd is made
 * non-blocking). tls: NULL for cleartext, or a server TLS context. Reading
 * starts after np_conn_set_callbacks. */
int np_conn_accept(uv_loop_t *loop, int fd, np_tls_ctx *tls, np_conn **ret_conn);

/* Starts a client connection to addr. tls: NULL or a client context;
 * sni/verify host in server_name (may be NULL for cleartext). Result
 * arrives via on_connected. */
int np_conn_connect(uv_loop_t *loop, const struct sockaddr *addr, np_tls_ctx *tls,
                    const char *server_name, const np_conn_callbacks *cbs, void *ud,
                    np_conn **ret_conn);

void np_conn_set_callbacks(np_conn *c, const np_conn_callbacks *cbs, void *ud);

/* Completion of one np_conn_writev: status 0 once all its bytes are
 * handed to the kernel (or the TLS engine), NP_E_CLOSED when the conn
 * closed first. Never called from inside np_conn_writev; always before
 * on_close. Writing again from here is allowed (it fails once closed). */
typedef void (*np_conn_write_cb)(np_conn *c, void *arg, int status);

/* One piece of a gathered write: copied into the queue, or (ref set)
 * referenced: then base must stay valid and unchanged until the conn
 * closes (netpulse uses it for the shared random payload). */
typedef struct {
  const void *base;
  size_t len;
  int ref;
} np_conn_buf;

#define NP_CONN_MAX_BUFS 8
#define NP_CONN_QUEUE_CAP (4 * 1024 * 1024) /* default, bytes of memory */

/* Queues bufs[0..n) (n <= NP_CONN_MAX_BUFS) as one write: one heap block
 * holds the copies, and the pieces leave in one gathered sendmsg when the
 * socket takes them. cb (may be NULL) reports completion. Returns 0,
 * -ENOBUFS when the queue would hold more memory than its cap (the block
 * with its allocator overhead is charged, referenced bytes are not),
 * NP_E_CLOSED after a close, or another negative error (then the conn is
 * already closing). Sending starts at once. */
int np_conn_writev(np_conn *c, const np_conn_buf *bufs, int n, np_conn_write_cb cb, void *arg);

/* np_conn_writev of one copied buffer, without a callback. */
int np_conn_write(np_conn *c, const void *data, size_t len);

/* Memory the write queue holds now, and its cap (default
 * NP_CONN_QUEUE_CAP). */
size_t np_conn_queue_mem(const np_conn *c);
void np_conn_set_queue_cap(np_conn *c, size_t bytes);

/* Bytes queued but not yet handed to the kernel / TLS. */
size_t np_conn_pending(const np_conn *c);

/* While on, on_writable fires on every writable event at which pending <=
 * lowat (bulk senders refill there; turn it off when done, or it spins). */
void np_conn_want_writable(np_conn *c, int on, size_t lowat);

/* Drops the next n incoming stream bytes without delivering them (for TLS
 * they are decrypted and dropped; for cleartext, recv(MSG_TRUNC) discards
 * them in the kernel). on_data reports them with data == NULL. */
void np_conn_skip(np_conn *c, uint64_t n);

/* Advice from the protocol above: the first read after the current skip
 * needs at most n bytes (e.g. the next frame header), so a cleartext conn
 * does not copy bytes that would be skipped next. 0 = no advice. */
void np_conn_read_hint(np_conn *c, size_t n);

/* Stops (0) or resumes (1) reading. */
void np_conn_read_enable(np_conn *c, int on);

/* Graceful close: flushes the queue (bounded by a 2 s linger timer), sends
 * TLS close_notify and FIN, then closes. on_close follows. */
void np_conn_close(np_conn *c);

/* Immediate close (RST-free unless the kernel decides); on_close follows. */
void np_conn_abort(np_conn *c, int status);

int np_conn_fd(const np_conn *c);
uv_loop_t *np_conn_loop(const np_conn *c);
int np_conn_is_tls(const np_conn *c);
const np_conn_stats *np_conn_get_stats(const np_conn *c);

/* TLS version and cipher suite names of an established TLS conn ("" for
 * cleartext or before the handshake); NUL-terminated, truncated to fit. */
void np_conn_tls_info(const np_conn *c, char *version, size_t vcap, char *cipher, size_t ccap);

/* Negotiated ALPN protocol ("" if none). */
const char *np_conn_alpn(const np_conn *c);

/* "ip:port" of the local / remote end (IPv6 in brackets), and the bare IP
 * and port. 0 or a negative error. */
int np_conn_local_addr(const np_conn *c, char *ip, size_t ipcap, int *ret_port);
int np_conn_peer_addr(const np_conn *c, char *ip, size_t ipcap, int *ret_port);

#endif
