/* TCP_INFO / TCP_CC_INFO decoding by byte offset and their ndt-server JSON. */
#include "net/tcpinfo.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#ifndef TCP_CC_INFO
#define TCP_CC_INFO 26
#endif
#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

/* Linux's TCP_CA_NAME_MAX, the size of a congestion control name. */
#define CA_NAME_MAX 16

/* Room for kernels newer than the layout known here: the kernel copies
 * min(our length, its struct size), so a larger buffer never hurts. */
#define RAW_TCPINFO_MAX 512

/* One field of struct tcp_info: where it sits in the kernel's bytes and in
 * np_tcpinfo. nbits > 0 marks a bit-field inside a kwidth-byte container.
 * name NULL: decoded but not emitted. raw: emit the whole container (all
 * table fields sharing koff recombined) rather than this field alone, which
 * is how ndt-server's Go struct exposes bytes 6 and 7. */
typedef struct {
  const char *name;
  uint16_t koff;
  uint8_t kwidth;
  uint8_t swidth;
  uint16_t soff;
  uint8_t shift;
  uint8_t nbits;
  uint8_t raw;
} field_desc;

#define F(n, k, w, m)                                                                              \
  { n, k, w, sizeof(((np_tcpinfo *)0)->m), offsetof(np_tcpinfo, m), 0, 0, 0 }
#define B(n, k, w, m, sh, nb, r)                                                                   \
  { n, k, w, sizeof(((np_tcpinfo *)0)->m), offsetof(np_tcpinfo, m), sh, nb, r }

/* In kernel order; offsets are from include/uapi/linux/tcp.h (x86-64 and
 * every other Linux ABI: the struct has no padding holes). */
static const field_desc fields[] = {
    F("State", 0, 1, state),
    F("CAState", 1, 1, ca_state),
    F("Retransmits", 2, 1, retransmits),
    F("Probes", 3, 1, probes),
    F("Backoff", 4, 1, backoff),
    F("Options", 5, 1, options),
    B("WScale", 6, 1, snd_wscale, 0, 4, 1),
    B(NULL, 6, 1, rcv_wscale, 4, 4, 0),
    B("AppLimited", 7, 1, delivery_rate_app_limited, 0, 1, 1),
    B(NULL, 7, 1, fastopen_client_fail, 1, 2, 0),
    F("RTO", 8, 4, rto),
    F("ATO", 12, 4, ato),
    F("SndMSS", 16, 4, snd_mss),
    F("RcvMSS", 20, 4, rcv_mss),
    F("Unacked", 24, 4, unacked),
    F("Sacked", 28, 4, sacked),
    F("Lost", 32, 4, lost),
    F("Retrans", 36, 4, retrans),
    F("Fackets", 40, 4, fackets),
    F("LastDataSent", 44, 4, last_data_sent),
    F("LastAckSent", 48, 4, last_ack_sent),
    F("LastDataRecv", 52, 4, last_data_recv),
    F("LastAckRecv", 56, 4, last_ack_recv),
    F("PMTU", 60, 4, pmtu),
    F("RcvSsThresh", 64, 4, rcv_ssthresh),
    F("RTT", 68, 4, rtt),
    F("RTTVar", 72, 4, rttvar),
    F("SndSsThresh", 76, 4, snd_ssthresh),
    F("SndCwnd", 80, 4, snd_cwnd),
    F("AdvMSS", 84, 4, advmss),
    F("Reordering", 88, 4, reordering),
    F("RcvRTT", 92, 4, rcv_rtt),
    F("RcvSpace", 96, 4, rcv_space),
    F("TotalRetrans", 100, 4, total_retrans),
    F("PacingRate", 104, 8, pacing_rate),
    F("MaxPacingRate", 112, 8, max_pacing_rate),
    F("BytesAcked", 120, 8, bytes_acked),
    F("BytesReceived", 128, 8, bytes_received),
    F("SegsOut", 136, 4, segs_out),
    F("SegsIn", 140, 4, segs_in),
    F("NotsentBytes", 144, 4, notsent_bytes),
    F("MinRTT", 148, 4, min_rtt),
    F("DataSegsIn", 152, 4, data_segs_in),
    F("DataSegsOut", 156, 4, data_segs_out),
    F("DeliveryRate", 160, 8, delivery_rate),
    F("BusyTime", 168, 8, busy_time),
    F("RWndLimited", 176, 8, rwnd_limited),
    F("SndBufLimited", 184, 8, sndbuf_limited),
    F("Delivered", 192, 4, delivered),
    F("DeliveredCE", 196, 4, delivered_ce),
    F("BytesSent", 200, 8, bytes_sent),
    F("BytesRetrans", 208, 8, bytes_retrans),
    F("DSackDups", 216, 4, dsack_dups),
    F("ReordSeen", 220, 4, reord_seen),
    F("RcvOooPack", 224, 4, rcv_ooopack),
    F("SndWnd", 228, 4, snd_wnd),
    /* Past m-lab/tcp-info's LinuxTCPInfo: same naming style. */
    F("RcvWnd", 232, 4, rcv_wnd),
    F("Rehash", 236, 4, rehash),
    F("TotalRTO", 240, 2, total_rto),
    F("TotalRTORecoveries", 242, 2, total_rto_recoveries),
    F("TotalRTOTime", 244, 4, total_rto_time),
    F("ReceivedCE", 248, 4, received_ce),
    F("DeliveredE1Bytes", 252, 4, delivered_e1_bytes),
    F("DeliveredE0Bytes", 256, 4, delivered_e0_bytes),
    F("DeliveredCEBytes", 260, 4, delivered_ce_bytes),
    F("ReceivedE1Bytes", 264, 4, received_e1_bytes),
    F("ReceivedE0Bytes", 268, 4, received_e0_bytes),
    F("ReceivedCEBytes", 272, 4, received_ce_bytes),
    B("ECNMode", 276, 4, ecn_mode, 0, 2, 0),
    B("AccECNOptSeen", 276, 4, accecn_opt_seen, 2, 2, 0),
    B("AccECNFailMode", 276, 4, accecn_fail_mode, 4, 4, 0),
    B("Options2", 276, 4, options2, 8, 24, 0),
};

#undef F
#undef B

_Static_assert(NP_TCPINFO_KNOWN_SIZE == 280, "update the field table with the size");

/* Reads an unsigned native-endian integer of w bytes (1, 2, 4 or 8). */
static uint64_t load_native(const uint8_t *p, size_t w) {
  switch (w) {
  case 1:
    return p[0];
  case 2: {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
  }
  case 4: {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
  }
  default: {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
  }
  }
}

static void store_native(uint8_t *p, size_t w, uint64_t v) {
  switch (w) {
  case 1:
    p[0] = (uint8_t)v;
    break;
  case 2: {
    uint16_t x = (uint16_t)v;
    memcpy(p, &x, 2);
    break;
  }
  case 4: {
    uint32_t x = (uint32_t)v;
    memcpy(p, &x, 4);
    break;
  }
  default:
    memcpy(p, &v, 8);
    break;
  }
}

/* The C compiler allocates bit-fields from the low bit on little-endian
 * ABIs and from the high bit on big-endian ones; the table is written in
 * declaration order, so mirror it on big-endian machines. */
static unsigned bit_shift(const field_desc *f) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return (unsigned)f->kwidth * 8u - f->shift - f->nbits;
#else
  return f->shift;
#endif
}

static uint64_t bit_mask(const field_desc *f) {
  return f->nbits >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << f->nbits) - 1);
}

static int present(const field_desc *f, size_t filled) {
  return (size_t)f->koff + f->kwidth <= filled;
}

int np_tcpinfo_decode(const uint8_t *raw, size_t len, np_tcpinfo *ret) {
  memset(ret, 0, sizeof(*ret));
  if (len > NP_TCPINFO_KNOWN_SIZE) len = NP_TCPINFO_KNOWN_SIZE;
  ret->filled = len;
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
    const field_desc *f = &fields[i];
    if (!present(f, len)) continue;
    uint64_t v = load_native(raw + f->koff, f->kwidth);
    if (f->nbits) v = (v >> bit_shift(f)) & bit_mask(f);
    store_native((uint8_t *)ret + f->soff, f->swidth, v);
  }
  return 0;
}

int np_tcpinfo_read(int fd, np_tcpinfo *ret) {
  uint8_t raw[RAW_TCPINFO_MAX];
  memset(raw, 0, sizeof(raw));
  socklen_t len = sizeof(raw);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, raw, &len) != 0) return -errno;
  return np_tcpinfo_decode(raw, len, ret);
}

static uint64_t field_value(const np_tcpinfo *t, const field_desc *f) {
  return load_native((const uint8_t *)t + f->soff, f->swidth);
}

/* The container word of a raw-flagged field, rebuilt from its parts. */
static uint64_t container_value(const np_tcpinfo *t, const field_desc *f) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
    const field_desc *g = &fields[i];
    if (g->koff != f->koff) continue;
    v |= (field_value(t, g) & bit_mask(g)) << bit_shift(g);
  }
  return v;
}

/* Adds name: v; consumes nothing on failure. -ENOMEM on failure. */
static int set_int(json_t *o, const char *name, json_int_t v) {
  json_t *n = json_integer(v);
  if (!n) return -ENOMEM;
  return json_object_set_new(o, name, n) == 0 ? 0 : -ENOMEM;
}

/* Where m-lab/tcp-info's LinuxTCPInfo ends (after SndWnd). */
#define MLAB_TCPINFO_END 232

int np_tcpinfo_mlab_name(const char *name) {
  if (strcmp(name, "ElapsedTime") == 0) return 1;
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
    if (fields[i].name && fields[i].koff < MLAB_TCPINFO_END && strcmp(fields[i].name, name) == 0)
      return 1;
  return 0;
}

json_t *np_tcpinfo_json(const np_tcpinfo *t, int64_t elapsed_us) {
  json_t *o = json_object();
  if (!o) return NULL;
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
    const field_desc *f = &fields[i];
    if (!f->name || !present(f, t->filled)) continue;
    uint64_t v = f->raw ? container_value(t, f) : field_value(t, f);
    /* u64 counters go out as int64 like ndt-server's Go struct, so an
     * unlimited pacing rate (~0) reads -1 there and here alike. */
    if (set_int(o, f->name, (json_int_t)(int64_t)v) < 0) goto fail;
  }
  if (set_int(o, "ElapsedTime", (json_int_t)elapsed_us) < 0) goto fail;
  return o;
fail:
  json_decref(o);
  return NULL;
}

int np_tcp_congestion(int fd, char *out, size_t cap) {
  char name[CA_NAME_MAX + 1];
  memset(name, 0, sizeof(name));
  socklen_t len = CA_NAME_MAX;
  if (getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &len) != 0) return -errno;
  size_t n = strnlen(name, CA_NAME_MAX);
  if (cap == 0 || n >= cap) return -ENOSPC;
  memcpy(out, name, n);
  out[n] = '\0';
  return (int)n;
}

int np_tcp_try_bbr(int fd) {
  static const char bbr[] = "bbr";
  if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, bbr, sizeof(bbr) - 1) != 0) return -errno;
  return 0;
}

int np_tcp_nodelay(int fd) {
  int one = 1;
  return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0 ? 0 : -errno;
}

int np_tcp_unsent(int fd, uint64_t *ret_bytes) {
  int n = 0;
  if (ioctl(fd, SIOCOUTQNSD, &n) != 0) return -errno;
  *ret_bytes = n < 0 ? 0 : (uint64_t)n;
  return 0;
}

int np_tcp_notsent_lowat(int fd, uint32_t bytes) {
  unsigned v = bytes;
  return setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, sizeof v) == 0 ? 0 : -errno;
}

/* Size of struct tcp_bbr_info: bw_lo, bw_hi, min_rtt, pacing_gain, cwnd_gain. */
#define BBR_INFO_SIZE 20

int np_bbrinfo_read(int fd, np_bbrinfo *ret) {
  char ca[CA_NAME_MAX + 1];
  int rc = np_tcp_congestion(fd, ca, sizeof(ca));
  if (rc < 0) return rc;
  /* Out-of-tree BBRv2/v3 ("bbr2", "bbr3") keep tcp_bbr_info's first fields. */
  if (strncmp(ca, "bbr", 3) != 0) return -EOPNOTSUPP;

  uint8_t raw[64];
  memset(raw, 0, sizeof(raw));
  socklen_t len = sizeof(raw);
  if (getsockopt(fd, IPPROTO_TCP, TCP_CC_INFO, raw, &len) != 0) return -errno;
  if (len < BBR_INFO_SIZE) return -ENOENT;
  uint64_t lo = load_native(raw, 4), hi = load_native(raw + 4, 4);
  ret->bw = lo | (hi << 32);
  ret->min_rtt = (uint32_t)load_native(raw + 8, 4);
  ret->pacing_gain = (uint32_t)load_native(raw + 12, 4);
  ret->cwnd_gain = (uint32_t)load_native(raw + 16, 4);
  return 0;
}

json_t *np_bbrinfo_json(const np_bbrinfo *b, int64_t elapsed_us) {
  static const np_bbrinfo zero;
  if (!b) b = &zero;
  json_t *o = json_object();
  if (!o) return NULL;
  if (set_int(o, "BW", (json_int_t)(int64_t)b->bw) < 0 ||
      set_int(o, "MinRTT", (json_int_t)b->min_rtt) < 0 ||
      set_int(o, "PacingGain", (json_int_t)b->pacing_gain) < 0 ||
      set_int(o, "CwndGain", (json_int_t)b->cwnd_gain) < 0 ||
      set_int(o, "ElapsedTime", (json_int_t)elapsed_us) < 0) {
    json_decref(o);
    return NULL;
  }
  return o;
}

int np_socket_cookie(int fd, uint64_t *ret) {
  uint64_t c = 0;
  socklen_t len = sizeof(c);
  if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &len) != 0) return -errno;
  if (len != sizeof(c)) return -EINVAL;
  *ret = c;
  return 0;
}
