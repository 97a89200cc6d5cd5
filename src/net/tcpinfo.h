/* Kernel TCP introspection: TCP_INFO and BBR snapshots as ndt-server JSON,
 * congestion control choice, and the socket cookie. */
#ifndef NP_NET_TCPINFO_H
#define NP_NET_TCPINFO_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Every field of Linux `struct tcp_info` up to Linux 6.18 (which appended the
 * AccECN counters). Decoded by byte offset from what the running kernel
 * copied out, so it does not depend on the libc header's age. `filled` is how
 * many bytes the kernel wrote; fields that end beyond it stay 0 and are left
 * out of the JSON. Units are the kernel's (times in µs unless noted). */
typedef struct {
  size_t filled;

  uint8_t state;
  uint8_t ca_state;
  uint8_t retransmits;
  uint8_t probes;
  uint8_t backoff;
  uint8_t options;
  uint8_t snd_wscale;                /* low nibble of byte 6 */
  uint8_t rcv_wscale;                /* high nibble of byte 6 */
  uint8_t delivery_rate_app_limited; /* bit 0 of byte 7 */
  uint8_t fastopen_client_fail;      /* bits 1-2 of byte 7 */

  uint32_t rto;
  uint32_t ato;
  uint32_t snd_mss;
  uint32_t rcv_mss;

  uint32_t unacked;
  uint32_t sacked;
  uint32_t lost;
  uint32_t retrans;
  uint32_t fackets;

  uint32_t last_data_sent; /* ms */
  uint32_t last_ack_sent;  /* ms (never set by Linux) */
  uint32_t last_data_recv; /* ms */
  uint32_t last_ack_recv;  /* ms */

  uint32_t pmtu;
  uint32_t rcv_ssthresh;
  uint32_t rtt;
  uint32_t rttvar;
  uint32_t snd_ssthresh;
  uint32_t snd_cwnd;
  uint32_t advmss;
  uint32_t reordering;

  uint32_t rcv_rtt;
  uint32_t rcv_space;

  uint32_t total_retrans;

  uint64_t pacing_rate;     /* bytes/s; ~0 = unlimited */
  uint64_t max_pacing_rate; /* bytes/s; ~0 = unlimited */
  uint64_t bytes_acked;
  uint64_t bytes_received;
  uint32_t segs_out;
  uint32_t segs_in;

  uint32_t notsent_bytes;
  uint32_t min_rtt;
  uint32_t data_segs_in;
  uint32_t data_segs_out;

  uint64_t delivery_rate; /* bytes/s */

  uint64_t busy_time;
  uint64_t rwnd_limited;
  uint64_t sndbuf_limited;

  uint32_t delivered;
  uint32_t delivered_ce;

  uint64_t bytes_sent;
  uint64_t bytes_retrans;
  uint32_t dsack_dups;
  uint32_t reord_seen;

  uint32_t rcv_ooopack;

  uint32_t snd_wnd;
  uint32_t rcv_wnd;

  uint32_t rehash;

  uint16_t total_rto;
  uint16_t total_rto_recoveries;
  uint32_t total_rto_time; /* ms */

  /* Linux 6.18: Accurate ECN counters. */
  uint32_t received_ce;
  uint32_t delivered_e1_bytes;
  uint32_t delivered_e0_bytes;
  uint32_t delivered_ce_bytes;
  uint32_t received_e1_bytes;
  uint32_t received_e0_bytes;
  uint32_t received_ce_bytes;
  uint8_t ecn_mode;         /* 2 bits */
  uint8_t accecn_opt_seen;  /* 2 bits */
  uint8_t accecn_fail_mode; /* 4 bits */
  uint32_t options2;        /* 24 bits */
} np_tcpinfo;

/* Bytes of struct tcp_info this code knows how to decode (Linux 6.18). */
#define NP_TCPINFO_KNOWN_SIZE 280

/* Reads TCP_INFO of a TCP socket into *ret (fully overwritten on success,
 * untouched on failure). 0, or a negative errno from getsockopt. */
int np_tcpinfo_read(int fd, np_tcpinfo *ret);

/* Decodes len raw bytes as the kernel copies them out (native byte order)
 * into *ret; bytes past NP_TCPINFO_KNOWN_SIZE are ignored. Exposed so the
 * decoder can be tested on short (older kernel) buffers. Always 0. */
int np_tcpinfo_decode(const uint8_t *raw, size_t len, np_tcpinfo *ret);

/* A new JSON object with ndt-server's TCPInfo field names (m-lab/tcp-info
 * LinuxTCPInfo, then the newer kernel fields under the same naming style)
 * and "ElapsedTime" (µs), every value a 64-bit integer. Fields the kernel
 * did not fill are absent. WScale and AppLimited carry the raw bytes 6 and 7
 * as ndt-server does. The caller owns the reference; NULL on allocation
 * failure. */
json_t *np_tcpinfo_json(const np_tcpinfo *t, int64_t elapsed_us);

/* Whether name is a TCPInfo member of ndt-server's records: m-lab/tcp-info's
 * LinuxTCPInfo names (State ... SndWnd) and "ElapsedTime". The newer kernel
 * fields np_tcpinfo_json adds are not among them. */
int np_tcpinfo_mlab_name(const char *name);

/* What BBR reports through TCP_CC_INFO (struct tcp_bbr_info). */
typedef struct {
  uint64_t bw;          /* max-filtered bandwidth estimate, bytes/s */
  uint32_t min_rtt;     /* µs */
  uint32_t pacing_gain; /* << 8 (256 = 1.0) */
  uint32_t cwnd_gain;   /* << 8 */
} np_bbrinfo;

/* Reads BBR's state for fd into *ret (untouched on failure). -EOPNOTSUPP
 * when the socket runs another congestion control, -ENOENT when the kernel
 * returned no BBR info, or another negative errno. */
int np_bbrinfo_read(int fd, np_bbrinfo *ret);

/* A new JSON object {BW, MinRTT, PacingGain, CwndGain, ElapsedTime} as
 * ndt-server writes it; b == NULL gives zeros (ndt7 always sends BBRInfo).
 * Caller owns the reference; NULL on allocation failure. */
json_t *np_bbrinfo_json(const np_bbrinfo *b, int64_t elapsed_us);

/* Switches fd to BBR. 0 if set, else a negative errno (-ENOENT: the kernel
 * has no BBR module loaded; -EPERM: not in tcp_allowed_congestion_control).
 * Callers normally ignore failure and keep the default. */
int np_tcp_try_bbr(int fd);

/* Turns Nagle's algorithm off (TCP_NODELAY): a measurement message or a
 * ping must leave at once, not wait for the ACK of the previous segment.
 * 0 or a negative errno. */
int np_tcp_nodelay(int fd);

/* Bytes written to fd that the kernel has not sent yet (SIOCOUTQNSD), in
 * *ret_bytes; 0 or a negative errno (*ret_bytes untouched). */
int np_tcp_unsent(int fd, uint64_t *ret_bytes);

/* Sets TCP_NOTSENT_LOWAT: poll reports fd writable only while fewer than
 * bytes are unsent. 0 or a negative errno. */
int np_tcp_notsent_lowat(int fd, uint32_t bytes);

/* Writes fd's congestion control name ("bbr", "cubic", ...) NUL-terminated
 * into out[cap]. Returns its length, -ENOSPC if cap is too small, or a
 * negative errno. */
int np_tcp_congestion(int fd, char *out, size_t cap);

/* The kernel's socket cookie (SO_COOKIE): a 64-bit id unique per socket
 * for the boot. 0 and *ret set, or a negative errno (*ret untouched). */
int np_socket_cookie(int fd, uint64_t *ret);

#endif
