/* The responsiveness server over HTTP/1.1 (cleartext, or TLS with ALPN
 * http/1.1 or none): the same endpoints, IDs, admission and record as over
 * HTTP/2, for browsers on plain http (which cannot use h2c) and clients
 * that do not speak HTTP/2. One request at a time per connection, with
 * keep-alive; request bodies by Content-Length or chunked. */
#ifndef NP_RPM_HTTP1_H
#define NP_RPM_HTTP1_H

#include <stddef.h>
#include <stdint.h>

#include "net/conn.h"
#include "rpm/server.h"

/* A connection that waits for its next request head this long after its
 * last answer is closed (browsers keep idle connections pooled; a
 * measurement must not wait for them). */
#define NP_RPM_H1_IDLE_NS (5ull * 1000000000ull)
#define NP_RPM_H1_MAX_REQUESTS 10000         /* per connection, then Connection: close */
#define NP_RPM_H1_MAX_OTHER_BODY (64u << 10) /* body of a config, small or large request */

/* Takes over c, whose first request head is at data[0..len) (buffered
 * bytes of later requests may follow). cfg must outlive the session.
 * Returns the bytes of data consumed (the rest is offered again through
 * the session's callbacks), or a negative error (c is closed). */
int np_rpm_http1_serve(np_conn *c, const np_rpm_server_cfg *cfg, const char *uuid, uint8_t *data,
                       size_t len);

#endif
