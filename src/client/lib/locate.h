/* M-Lab Locate v2 client: the nearest-servers JSON reader (pure, fuzzed)
 * and an asynchronous capped HTTP(S) fetch. URLs: http/url.h. */
#ifndef NP_CLIENT_LOCATE_H
#define NP_CLIENT_LOCATE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "http/url.h"

#define NP_LOCATE_DEFAULT_URL "https://locate.measurementlab.net/v2/nearest/ndt/ndt7"
#define NP_LOCATE_MAX_RESULTS 8      /* results kept from one answer */
#define NP_LOCATE_MAX_URL NP_URL_MAX /* bytes of one URL incl. NUL */
#define NP_LOCATE_MAX_BODY 65536     /* cap on the answer's body */
#define NP_LOCATE_MAX_HOST NP_URL_MAX_HOST
#define NP_LOCATE_TIMEOUT_MS 15000 /* default whole-request deadline */

/* ---- pure parsing ---- */

/* One server offered by Locate: the URLs (with their access_token) for the
 * requested scheme; "" for a direction the answer did not offer. */
typedef struct {
  char machine[NP_LOCATE_MAX_HOST]; /* "machine" field, "" if absent */
  char download_url[NP_LOCATE_MAX_URL];
  char upload_url[NP_LOCATE_MAX_URL];
} np_locate_server;

typedef struct {
  size_t n;
  np_locate_server servers[NP_LOCATE_MAX_RESULTS];
} np_locate_list;

/* Reads a Locate v2 answer body {"results":[{"machine":..,"urls":{
 * "<scheme>:///ndt/v7/download": "<scheme>://host/ndt/v7/download?..",..}},
 * ..]} and keeps, in order, up to NP_LOCATE_MAX_RESULTS results that offer
 * at least one ndt7 URL for scheme ("ws" or "wss"). URL keys may carry a
 * port ("ws://:8080/ndt/v7/upload"); each value must itself parse as a URL of
 * that scheme with the matching path. Unknown fields are ignored.
 * Returns 0 (ret->n >= 1), NP_E_JSON when the body is not such a JSON object,
 * or -ENOENT when it offers no usable URL for scheme. ret is written only on
 * success. */
int np_locate_parse(const char *body, size_t len, const char *scheme, np_locate_list *ret);

/* The seconds in a Retry-After value of delta-seconds form (capped at
 * 86400), or -1 when absent or not in that form. */
int np_locate_retry_after(const char *value, size_t len);

/* ---- fetching ---- */

typedef struct {
  const char *url;        /* http:// or https:// Locate URL (query allowed) */
  const char *scheme;     /* ndt7 scheme wanted in the answer: "ws"/"wss" */
  int verify_tls;         /* https: verify chain and host name */
  const char *ca_file;    /* extra CA bundle, may be NULL */
  int family;             /* AF_UNSPEC, AF_INET or AF_INET6 */
  const char *user_agent; /* may be NULL */
  uint64_t timeout_ms;    /* whole request; 0 = NP_LOCATE_TIMEOUT_MS */
} np_locate_options;

/* What the fetch learned. status is the HTTP status (0 when no answer);
 * retry_after_s is >= 0 when the answer carried a Retry-After in seconds. */
typedef struct {
  int status;
  int retry_after_s;
  char error_text[256]; /* plain-words reason when err != 0 */
  np_locate_list list;  /* valid when err == 0 */
} np_locate_reply;

/* err: 0 with reply->list filled; NP_E_REFUSED when Locate answered without
 * servers (204: no capacity, 429: rate limited, other non-200 statuses);
 * NP_E_JSON / -ENOENT for a useless 200 body; NP_E_TIMEOUT; NP_E_TLS*;
 * negative errno or UV_* codes for name resolution and connection failures.
 * reply is valid only during the call. */
typedef void (*np_locate_cb)(void *ud, int err, const np_locate_reply *reply);

typedef struct np_locate_req np_locate_req;

/* Starts the GET. Resolves the host (every address is tried in turn until
 * one connects), sends "Accept: application/json", reads at most
 * NP_LOCATE_MAX_BODY body bytes. Returns 0 and later calls cb exactly once,
 * or a negative error (NP_E_BADARG for a bad URL or option, -ENOMEM, or a
 * TLS setup failure) and no callback. ret_req may be NULL. */
int np_locate_fetch(uv_loop_t *loop, const np_locate_options *o, np_locate_cb cb, void *ud,
                    np_locate_req **ret_req);

/* Cancels a running fetch: cb follows with NP_E_CLOSED. */
void np_locate_cancel(np_locate_req *r);

#endif
