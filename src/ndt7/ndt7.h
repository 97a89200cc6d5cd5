/* ndt7 protocol constants and the pure pieces of its logic: message size
 * scaling, measurement schedule, and the measurement JSON both ends use. */
#ifndef NP_NDT7_NDT7_H
#define NP_NDT7_NDT7_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/clock.h"
#include "net/tcpinfo.h"

#define NP_NDT7_SUBPROTOCOL "net.measurementlab.ndt.v7"
#define NP_NDT7_PATH_DOWNLOAD "/ndt/v7/download"
#define NP_NDT7_PATH_UPLOAD "/ndt/v7/upload"

#define NP_NDT7_MIN_MESSAGE (1u << 13)
#define NP_NDT7_MAX_SENT_MESSAGE (1u << 20) /* ndt7-client-go's read limit */
#define NP_NDT7_MAX_MESSAGE (1u << 24)      /* accepted from peers */
#define NP_NDT7_MAX_TEXT (64u * 1024)       /* text measurements we buffer */
#define NP_NDT7_SCALING_FRACTION 16
#define NP_NDT7_DURATION_NS (10 * NP_NS_PER_S)
#define NP_NDT7_HARD_STOP_NS (15 * NP_NS_PER_S)
#define NP_NDT7_MEAN_INTERVAL_NS (250 * NP_NS_PER_MS)
#define NP_NDT7_MIN_INTERVAL_NS (25 * NP_NS_PER_MS)
#define NP_NDT7_MAX_INTERVAL_NS (625 * NP_NS_PER_MS)
#define NP_NDT7_EARLY_EXIT_BYTES (250ull * 1000 * 1000)
#define NP_NDT7_MAX_CLIENT_MEASUREMENTS 200 /* 10/s over the hard stop, with slack */

/* The size of the next binary message after one of size cur, when total
 * bytes have been sent: doubles while below the cap and no more than
 * total/16, so slow links keep small messages. */
uint32_t np_ndt7_next_size(uint32_t cur, uint64_t total);

/* The delay to the next measurement: exponential with mean 250 ms, clamped
 * to [25, 625] ms. u is uniform in (0, 1]. */
uint64_t np_ndt7_next_interval_ns(double u);

/* What one measurement is made of (server side). */
typedef struct {
  uint64_t app_bytes; /* AppInfo.NumBytes */
  int64_t elapsed_us; /* since the test started */
  const char *client; /* "ip:port" */
  const char *server; /* "ip:port" */
  const char *uuid;
  const char *start_time; /* RFC 3339 with nanoseconds */
  const np_tcpinfo *tcp;  /* NULL when unavailable */
  const np_bbrinfo *bbr;  /* NULL: zeros (BBRInfo is always sent) */
} np_ndt7_sample;

/* Builds a measurement object in ndt-server's field order: AppInfo,
 * ConnectionInfo, BBRInfo, TCPInfo. New reference, NULL on ENOMEM. */
json_t *np_ndt7_measurement_json(const np_ndt7_sample *s);

#define NP_NDT7_MAX_UUID 255

/* Whether s[0..n) can be a socket UUID: 1..255 bytes of [A-Za-z0-9._:-].
 * A server's UUID that is not is dropped, so that it can never break the
 * client's JSON or reach a terminal as control characters. */
int np_ndt7_uuid_ok(const char *s, size_t n);

/* What a client takes from a measurement it reads. */
typedef struct {
  int has_app;
  uint64_t app_bytes;
  int64_t app_elapsed_us;
  int has_tcp;
  uint64_t bytes_acked, bytes_received, bytes_sent, bytes_retrans;
  uint64_t min_rtt_us, rtt_us, rttvar_us;
  int64_t tcp_elapsed_us;
  int has_bbr;
  uint64_t bbr_bw;                 /* bytes/s as BBR reports it */
  char uuid[NP_NDT7_MAX_UUID + 1]; /* ConnectionInfo.UUID when present and
                                      np_ndt7_uuid_ok, else "" */
} np_ndt7_reading;

/* Parses a measurement text message (untrusted). Missing fields are fine;
 * wrong types or non-objects are NP_E_JSON. ret_obj (may be NULL) gets the
 * parsed object (new reference) for recording. */
int np_ndt7_measurement_read(const char *text, size_t len, np_ndt7_reading *ret, json_t **ret_obj);

/* Why a client's measurement message was not kept (whole messages). */
typedef enum {
  NP_NDT7_CM_BAD_MESSAGE = 0, /* not a JSON object (or duplicate keys) */
  NP_NDT7_CM_EMPTY,           /* nothing allow-listed in it */
  NP_NDT7_CM_TEST_COUNT,      /* NP_NDT7_MAX_CLIENT_MEASUREMENTS already kept */
  NP_NDT7_CM_TEST_BYTES,      /* would pass NP_NDT7_MAX_CLIENT_MEASUREMENT_BYTES */
  NP_NDT7_CM_N
} np_ndt7_cm_drop;

/* Why a member of a kept message was left out. */
typedef enum {
  NP_NDT7_MEMBER_UNKNOWN = 0, /* name not in the allow-list */
  NP_NDT7_MEMBER_BAD_VALUE,   /* allowed name, wrong type or unknown word */
  NP_NDT7_MEMBER_N
} np_ndt7_member_drop;

typedef struct {
  uint64_t messages[NP_NDT7_CM_N];
  uint64_t members[NP_NDT7_MEMBER_N];
} np_ndt7_cm_drops;

/* Metric labels of the reasons; NULL for anything else. */
const char *np_ndt7_cm_drop_name(np_ndt7_cm_drop reason);
const char *np_ndt7_member_drop_name(np_ndt7_member_drop reason);

/* A copy of a client's measurement keeping only what is safe to publish
 * (and what schemas/ndt7.json lists): AppInfo {NumBytes, ElapsedTime},
 * BBRInfo {BW, MinRTT, PacingGain, CwndGain, ElapsedTime} and TCPInfo
 * (ndt-server's names, np_tcpinfo_mlab_name) members with integer values,
 * and Origin ("client"/"server") and Test ("download"/"upload"). No free
 * text survives. Every member left out is counted in drops (may be NULL).
 * New reference; NULL if nothing is left. */
json_t *np_ndt7_measurement_sanitize(const json_t *in, np_ndt7_cm_drops *drops);

/* Per-test cap on what a client's measurements add to the data file, as
 * compact JSON. 200 maximal measurements would be ~450 KB; a client sending
 * AppInfo at the spec's 4/s uses ~3 KB, full TCPInfo at 4/s ~90 KB. */
#define NP_NDT7_MAX_CLIENT_MEASUREMENT_BYTES (128u * 1024)

/* A test's client measurements: what is kept (sanitised, each with the
 * server's "ServerElapsedTime") and what was dropped. Loop thread only. */
typedef struct {
  json_t *list; /* array; owned */
  size_t kept;
  size_t bytes; /* compact JSON bytes kept, separators included */
  np_ndt7_cm_drops drops;
} np_ndt7_client_log;

/* 0, or -ENOMEM. */
int np_ndt7_client_log_init(np_ndt7_client_log *l);
/* Parses, sanitises and keeps one text message within the per-test caps
 * (NP_NDT7_MAX_CLIENT_MEASUREMENTS, NP_NDT7_MAX_CLIENT_MEASUREMENT_BYTES);
 * anything refused is counted in l->drops, never kept in part. */
void np_ndt7_client_log_add(np_ndt7_client_log *l, const char *text, size_t len,
                            int64_t server_elapsed_us);
void np_ndt7_client_log_free(np_ndt7_client_log *l);

#endif
