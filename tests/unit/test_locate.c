/* Unit tests for the Locate v2 client: URL and host:port parsing, the answer
 * reader (valid, invalid, hostile, every prefix), Retry-After, and the fetch
 * against canned answers from a loopback libuv server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <uv.h>

#include "client/lib/locate.h"
#include "core/error.h"

/* ---- host:port ---- */

static void hostport_valid(void **state) {
  (void)state;
  char host[NP_LOCATE_MAX_HOST];
  int port = 0;
  assert_int_equal(np_hostport_parse("ndt.example.org", 443, host, sizeof host, &port), 0);
  assert_string_equal(host, "ndt.example.org");
  assert_int_equal(port, 443);
  assert_int_equal(np_hostport_parse("127.0.0.1:8080", 443, host, sizeof host, &port), 0);
  assert_string_equal(host, "127.0.0.1");
  assert_int_equal(port, 8080);
  assert_int_equal(np_hostport_parse("[::1]:80", 443, host, sizeof host, &port), 0);
  assert_string_equal(host, "::1");
  assert_int_equal(port, 80);
  assert_int_equal(np_hostport_parse("[2001:db8::1]", 80, host, sizeof host, &port), 0);
  assert_string_equal(host, "2001:db8::1");
  assert_int_equal(port, 80);
  assert_int_equal(np_hostport_parse("2001:db8::2", 443, host, sizeof host, &port), 0);
  assert_string_equal(host, "2001:db8::2");
  assert_int_equal(port, 443);
  assert_int_equal(np_hostport_parse("[::ffff:1.2.3.4]:65535", 1, host, sizeof host, &port), 0);
  assert_string_equal(host, "::ffff:1.2.3.4");
  assert_int_equal(port, 65535);
  assert_int_equal(np_hostport_parse("a_b-c.d:1", 443, host, sizeof host, &port), 0);
  assert_int_equal(port, 1);
}

static void hostport_invalid(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",           ":80",         "host:",      "host:abc",    "host:0",
      "host:65536", "host:123456", "[::1",       "[::1]x",      "[::1]:",
      "[zz::1]:80", "[1.2.3.4]",   "a b",        "host/path",   "h@x",
      "1::2::3",    "::1:80:x",    "host:80:90", "[]",          "[::1]:-1",
      "host:+80",   "exa\tmple",   "h\xc3\xa9",  "host:08080x",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char host[8] = "keep";
    int port = 7;
    int rc = np_hostport_parse(bad[i], 443, host, sizeof host, &port);
    if (rc != NP_E_BADARG) fail_msg("\"%s\": rc %d, want NP_E_BADARG", bad[i], rc);
    assert_string_equal(host, "keep");
    assert_int_equal(port, 7);
  }
  char tiny[4];
  int port;
  assert_int_equal(np_hostport_parse("abcd", 1, tiny, sizeof tiny, &port), NP_E_BADARG);
  assert_int_equal(np_hostport_parse("abc", 1, tiny, sizeof tiny, &port), 0);
  assert_int_equal(np_hostport_parse(NULL, 1, tiny, sizeof tiny, &port), NP_E_BADARG);
}

/* ---- URLs ---- */

static void url_valid(void **state) {
  (void)state;
  np_url u;
  assert_int_equal(np_url_parse("wss://ndt-mlab1-lga0t.mlab-oti.measurement-lab.org/ndt/v7/"
                                "download?access_token=abc.def.ghi",
                                &u),
                   0);
  assert_string_equal(u.scheme, "wss");
  assert_string_equal(u.host, "ndt-mlab1-lga0t.mlab-oti.measurement-lab.org");
  assert_int_equal(u.port, 443);
  assert_int_equal(u.has_port, 0);
  assert_string_equal(u.host_header, "ndt-mlab1-lga0t.mlab-oti.measurement-lab.org");
  assert_string_equal(u.target, "/ndt/v7/download?access_token=abc.def.ghi");

  assert_int_equal(np_url_parse("ws://[::1]:8080/ndt/v7/upload", &u), 0);
  assert_string_equal(u.host, "::1");
  assert_int_equal(u.port, 8080);
  assert_int_equal(u.has_port, 1);
  assert_string_equal(u.host_header, "[::1]:8080");

  assert_int_equal(np_url_parse("http://127.0.0.1:3000", &u), 0);
  assert_string_equal(u.scheme, "http");
  assert_string_equal(u.target, "/");
  assert_string_equal(u.host_header, "127.0.0.1:3000");

  assert_int_equal(np_url_parse("https://locate.measurementlab.net?x=1", &u), 0);
  assert_int_equal(u.port, 443);
  assert_string_equal(u.target, "/?x=1");

  assert_int_equal(np_url_parse("ws://h", &u), 0);
  assert_int_equal(u.port, 80);
  assert_int_equal(np_url_parse("http://[2001:db8::1]/v2", &u), 0);
  assert_string_equal(u.host_header, "[2001:db8::1]");
}

static void url_invalid(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",
      "locate.measurementlab.net/v2",
      "ftp://host/",
      "HTTP://host/",
      "http:/host/",
      "http://",
      "http:///path",
      "http://:80/",
      "http://user@host/",
      "http://host/#frag",
      "http://host/a b",
      "http://host/\x01",
      "http://host/\x7f",
      "http://host:0/",
      "http://host:99999/",
      "http://[::1/",
      "http://[::1]junk/",
      "http://ho st/",
      "http://h\xc3\xa9/",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    np_url u;
    memset(&u, 0x5a, sizeof u);
    int rc = np_url_parse(bad[i], &u);
    if (rc != NP_E_BADARG) fail_msg("\"%s\": rc %d, want NP_E_BADARG", bad[i], rc);
    assert_int_equal((unsigned char)u.scheme[0], 0x5a); /* untouched */
  }
  /* Length cap: NP_LOCATE_MAX_URL - 1 bytes fit, one more does not. */
  char *s = malloc(NP_LOCATE_MAX_URL + 1);
  assert_non_null(s);
  memcpy(s, "http://h/", 9);
  memset(s + 9, 'a', NP_LOCATE_MAX_URL - 10);
  s[NP_LOCATE_MAX_URL - 1] = 0;
  np_url u;
  assert_int_equal(np_url_parse(s, &u), 0);
  s[NP_LOCATE_MAX_URL - 1] = 'a';
  s[NP_LOCATE_MAX_URL] = 0;
  assert_int_equal(np_url_parse(s, &u), NP_E_BADARG);
  free(s);
}

/* ---- the answer's JSON ---- */

static const char kAnswer[] =
    "{\"results\":[{\"machine\":\"mlab1-lga0t.mlab-oti.measurement-lab.org\","
    "\"location\":{\"city\":\"New York\",\"country\":\"US\"},"
    "\"urls\":{"
    "\"ws:///ndt/v7/download\":\"ws://ndt-mlab1-lga0t.example.org/ndt/v7/"
    "download?access_token=T1\","
    "\"ws:///ndt/v7/upload\":\"ws://ndt-mlab1-lga0t.example.org/ndt/v7/upload?access_token=T2\","
    "\"wss:///ndt/v7/download\":\"wss://ndt-mlab1-lga0t.example.org/ndt/v7/"
    "download?access_token=T3\","
    "\"wss:///ndt/v7/upload\":\"wss://ndt-mlab1-lga0t.example.org/ndt/v7/"
    "upload?access_token=T4\"}},"
    "{\"machine\":\"mlab2-lga0t.mlab-oti.measurement-lab.org\",\"urls\":{"
    "\"wss://:4443/ndt/v7/download\":\"wss://ndt-mlab2.example.org:4443/ndt/v7/"
    "download?access_token=T5\","
    "\"wss:///ndt/v7/upload\":\"wss://ndt-mlab2.example.org/ndt/v7/upload?access_token=T6\"}}]}";

static int parse(const char *body, const char *scheme, np_locate_list *l) {
  return np_locate_parse(body, strlen(body), scheme, l);
}

static void parse_valid(void **state) {
  (void)state;
  static np_locate_list l;
  assert_int_equal(parse(kAnswer, "wss", &l), 0);
  assert_int_equal(l.n, 2);
  assert_string_equal(l.servers[0].machine, "mlab1-lga0t.mlab-oti.measurement-lab.org");
  assert_string_equal(l.servers[0].download_url,
                      "wss://ndt-mlab1-lga0t.example.org/ndt/v7/download?access_token=T3");
  assert_string_equal(l.servers[0].upload_url,
                      "wss://ndt-mlab1-lga0t.example.org/ndt/v7/upload?access_token=T4");
  assert_string_equal(l.servers[1].download_url,
                      "wss://ndt-mlab2.example.org:4443/ndt/v7/download?access_token=T5");
  assert_string_equal(l.servers[1].upload_url,
                      "wss://ndt-mlab2.example.org/ndt/v7/upload?access_token=T6");

  assert_int_equal(parse(kAnswer, "ws", &l), 0);
  assert_int_equal(l.n, 1); /* the second result offers no ws:// */
  assert_string_equal(l.servers[0].download_url,
                      "ws://ndt-mlab1-lga0t.example.org/ndt/v7/download?access_token=T1");

  /* A result offering one direction is kept; the other stays "". */
  assert_int_equal(parse("{\"results\":[{\"urls\":{\"ws:///ndt/v7/upload\":"
                         "\"ws://[::1]:81/ndt/v7/upload\"}}],\"extra\":[1,2]}",
                         "ws", &l),
                   0);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.servers[0].download_url, "");
  assert_string_equal(l.servers[0].upload_url, "ws://[::1]:81/ndt/v7/upload");
  assert_string_equal(l.servers[0].machine, "");

  assert_int_equal(parse(kAnswer, "http", &l), NP_E_BADARG);
}

static void parse_caps(void **state) {
  (void)state;
  /* More results than kept: the first NP_LOCATE_MAX_RESULTS, in order. */
  char *body = malloc(65536);
  assert_non_null(body);
  size_t len = (size_t)snprintf(body, 65536, "{\"results\":[");
  for (int i = 0; i < NP_LOCATE_MAX_RESULTS + 4; i++)
    len += (size_t)snprintf(body + len, 65536 - len,
                            "%s{\"machine\":\"m%d\",\"urls\":{\"wss:///ndt/v7/download\":"
                            "\"wss://h%d/ndt/v7/download\"}}",
                            i ? "," : "", i, i);
  len += (size_t)snprintf(body + len, 65536 - len, "]}");
  static np_locate_list l;
  assert_int_equal(np_locate_parse(body, len, "wss", &l), 0);
  assert_int_equal(l.n, NP_LOCATE_MAX_RESULTS);
  assert_string_equal(l.servers[NP_LOCATE_MAX_RESULTS - 1].machine, "m7");
  /* A URL over NP_LOCATE_MAX_URL is skipped, not truncated. */
  len = (size_t)snprintf(body, 65536,
                         "{\"results\":[{\"urls\":{\"wss:///ndt/v7/download\":"
                         "\"wss://h/ndt/v7/download?access_token=");
  memset(body + len, 'x', NP_LOCATE_MAX_URL);
  len += NP_LOCATE_MAX_URL;
  len += (size_t)snprintf(body + len, 65536 - len, "\"}}]}");
  assert_int_equal(np_locate_parse(body, len, "wss", &l), -ENOENT);
  free(body);
}

static void parse_invalid(void **state) {
  (void)state;
  static const struct {
    const char *body;
    int rc;
  } cases[] = {
      {"", NP_E_JSON},
      {"null", NP_E_JSON},
      {"[]", NP_E_JSON},
      {"{}", NP_E_JSON},
      {"{\"results\":{}}", NP_E_JSON},
      {"{\"results\":\"x\"}", NP_E_JSON},
      {"{\"results\":[]}", -ENOENT},
      {"{\"results\":[1,\"a\",null,[],{}]}", -ENOENT},
      {"{\"results\":[{\"urls\":[]}]}", -ENOENT},
      {"{\"results\":[{\"urls\":{\"wss:///ndt/v7/download\":5}}]}", -ENOENT},
      /* wrong scheme in the value, wrong path, foreign key forms */
      {"{\"results\":[{\"urls\":{\"wss:///ndt/v7/download\":\"ws://h/ndt/v7/download\"}}]}",
       -ENOENT},
      {"{\"results\":[{\"urls\":{\"wss:///ndt/v7/download\":\"wss://h/ndt/v7/upload\"}}]}",
       -ENOENT},
      {"{\"results\":[{\"urls\":{\"wss:///ndt/v7/download\":\"wss://h/ndt/v7/downloadx\"}}]}",
       -ENOENT},
      {"{\"results\":[{\"urls\":{\"wss:///ndt/v7/downloadx\":\"wss://h/ndt/v7/download\"}}]}",
       -ENOENT},
      {"{\"results\":[{\"urls\":{\"wss://:/ndt/v7/download\":\"wss://h/ndt/v7/download\"}}]}",
       -ENOENT},
      {"{\"results\":[{\"urls\":{\"https:///ndt/v7/download\":\"wss://h/ndt/v7/download\"}}]}",
       -ENOENT},
      /* hostile values: NUL, control bytes, user info, fragment */
      {"{\"results\":[{\"urls\":{\"wss:///ndt/v7/download\":\"wss://h/ndt/v7/"
       "download\\u0000x\"}}]}",
       NP_E_JSON},
      {"{\"results\":[{\"urls\":{\"wss:///ndt/v7/download\":\"wss://h/ndt/v7/download\\r\\nX: "
       "y\"}}]}",
       -ENOENT},
      {"{\"results\":[{\"urls\":{\"wss:///ndt/v7/download\":\"wss://u@h/ndt/v7/download\"}}]}",
       -ENOENT},
      {"{\"results\":[{\"urls\":{\"wss:///ndt/v7/download\":\"wss://h/ndt/v7/download#f\"}}]}",
       -ENOENT},
      /* duplicate keys and trailing garbage are malformed */
      {"{\"results\":[],\"results\":[]}", NP_E_JSON},
      {"{\"results\":[]} x", NP_E_JSON},
      {"{\"results\":[{\"urls\":{\"wss:///ndt/v7/download\":\"wss://h/ndt/v7/download\"}}]",
       NP_E_JSON},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    np_locate_list l;
    l.n = 12345;
    int rc = parse(cases[i].body, "wss", &l);
    if (rc != cases[i].rc)
      fail_msg("case %zu (%s): rc %d, want %d", i, cases[i].body, rc, cases[i].rc);
    assert_int_equal(l.n, 12345); /* untouched on failure */
  }
  /* A machine name with odd bytes is dropped, the result kept. */
  np_locate_list l;
  assert_int_equal(parse("{\"results\":[{\"machine\":\"a b\\n\",\"urls\":{\"wss:///ndt/v7/"
                         "download\":\"wss://h/ndt/v7/download\"}}]}",
                         "wss", &l),
                   0);
  assert_string_equal(l.servers[0].machine, "");
  /* Deep nesting is refused without a crash. */
  char deep[8192];
  size_t k = 0;
  k += (size_t)snprintf(deep, sizeof deep, "{\"results\":");
  while (k < 4000) deep[k++] = '[';
  deep[k] = 0;
  assert_int_equal(parse(deep, "wss", &l), NP_E_JSON);
}

static void parse_every_prefix(void **state) {
  (void)state;
  size_t len = strlen(kAnswer);
  static np_locate_list l;
  for (size_t i = 0; i < len; i++) {
    int rc = np_locate_parse(kAnswer, i, "wss", &l);
    if (rc != NP_E_JSON) fail_msg("prefix %zu: rc %d, want NP_E_JSON", i, rc);
  }
  assert_int_equal(np_locate_parse(kAnswer, len, "wss", &l), 0);
}

static void retry_after(void **state) {
  (void)state;
  assert_int_equal(np_locate_retry_after("5", 1), 5);
  assert_int_equal(np_locate_retry_after(" 120\t", 5), 120);
  assert_int_equal(np_locate_retry_after("0", 1), 0);
  assert_int_equal(np_locate_retry_after("99999999999999999999", 20), 86400);
  assert_int_equal(np_locate_retry_after("", 0), -1);
  assert_int_equal(np_locate_retry_after("  ", 2), -1);
  assert_int_equal(np_locate_retry_after("-1", 2), -1);
  assert_int_equal(np_locate_retry_after("1.5", 3), -1);
  assert_int_equal(np_locate_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 29), -1);
  assert_int_equal(np_locate_retry_after(NULL, 0), -1);
}

/* ---- fetch against a canned loopback server ---- */

typedef struct {
  uv_tcp_t srv;
  const char *answer; /* sent after the request head, then close */
  size_t answer_len;
  int hold; /* 1: never answer (timeout test) */
  char request[4096];
  size_t request_len;
  uv_tcp_t *client;
} canned;

typedef struct {
  int called;
  int err;
  np_locate_reply reply;
} outcome;

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  (void)h;
  (void)sz;
  static char buf[4096];
  *b = uv_buf_init(buf, sizeof buf);
}

static void on_client_closed(uv_handle_t *h) { free(h); }

static void on_written(uv_write_t *w, int status) {
  (void)status;
  if (!uv_is_closing((uv_handle_t *)w->handle))
    uv_close((uv_handle_t *)w->handle, on_client_closed);
  free(w);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  canned *c = s->data;
  if (n < 0) {
    if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, on_client_closed);
    c->client = NULL;
    return;
  }
  size_t room = sizeof c->request - 1 - c->request_len;
  size_t take = (size_t)n < room ? (size_t)n : room;
  memcpy(c->request + c->request_len, b->base, take);
  c->request_len += take;
  c->request[c->request_len] = 0;
  if (!strstr(c->request, "\r\n\r\n") || c->hold) return;
  (void)uv_read_stop(s);
  uv_write_t *w = malloc(sizeof *w);
  uv_buf_t out = uv_buf_init((char *)c->answer, (unsigned)c->answer_len);
  c->client = NULL;
  (void)uv_write(w, s, &out, 1, on_written);
}

static void on_conn(uv_stream_t *srv, int status) {
  canned *c = srv->data;
  assert_int_equal(status, 0);
  uv_tcp_t *cl = malloc(sizeof *cl);
  (void)uv_tcp_init(srv->loop, cl);
  cl->data = c;
  assert_int_equal(uv_accept(srv, (uv_stream_t *)cl), 0);
  c->client = cl;
  (void)uv_read_start((uv_stream_t *)cl, on_alloc, on_read);
}

static int canned_start(uv_loop_t *loop, canned *c) {
  struct sockaddr_in a;
  (void)uv_ip4_addr("127.0.0.1", 0, &a);
  (void)uv_tcp_init(loop, &c->srv);
  c->srv.data = c;
  assert_int_equal(uv_tcp_bind(&c->srv, (const struct sockaddr *)&a, 0), 0);
  assert_int_equal(uv_listen((uv_stream_t *)&c->srv, 8, on_conn), 0);
  struct sockaddr_in got;
  int len = sizeof got;
  (void)uv_tcp_getsockname(&c->srv, (struct sockaddr *)&got, &len);
  return ntohs(got.sin_port);
}

static void on_fetched(void *ud, int err, const np_locate_reply *r) {
  outcome *o = ud;
  o->called++;
  o->err = err;
  memcpy(&o->reply, r, sizeof *r);
}

/* Closes what the test server left open: its listener (static) and any
 * accepted client (malloc'd). */
static void on_walk_close(uv_handle_t *h, void *arg) {
  if (uv_is_closing(h)) return;
  uv_close(h, h == arg ? NULL : on_client_closed);
}

/* Runs one fetch against answer; returns the outcome. */
static void fetch(const char *answer, size_t answer_len, int hold, uint64_t timeout_ms, outcome *o,
                  canned *c) {
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  memset(c, 0, sizeof *c);
  c->answer = answer;
  c->answer_len = answer_len;
  c->hold = hold;
  int port = canned_start(&loop, c);
  char url[128];
  (void)snprintf(url, sizeof url, "http://127.0.0.1:%d/v2/nearest/ndt/ndt7?client_name=t", port);
  np_locate_options lo = {.url = url,
                          .scheme = "ws",
                          .family = AF_INET,
                          .user_agent = "test/1\r\nX-Evil: 1",
                          .timeout_ms = timeout_ms};
  memset(o, 0, sizeof *o);
  assert_int_equal(np_locate_fetch(&loop, &lo, on_fetched, o, NULL), 0);
  while (!o->called) (void)uv_run(&loop, UV_RUN_ONCE);
  /* Tear down the server and anything left, then drain. */
  uv_walk(&loop, on_walk_close, &c->srv);
  (void)uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
  assert_int_equal(o->called, 1);
}

static void fetch_ok_chunked(void **state) {
  (void)state;
  static char answer[4096];
  const char *body = "{\"results\":[{\"urls\":{\"ws:///ndt/v7/download\":"
                     "\"ws://127.0.0.1:9/ndt/v7/download?access_token=x\"}}]}";
  size_t bl = strlen(body);
  int n = snprintf(answer, sizeof answer,
                   "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n%zx\r\n%.*s\r\n%zx\r\n%s\r\n0\r\n\r\n",
                   (size_t)10, 10, body, bl - 10, body + 10);
  static outcome o;
  static canned c;
  fetch(answer, (size_t)n, 0, 0, &o, &c);
  assert_int_equal(o.err, 0);
  assert_int_equal(o.reply.status, 200);
  assert_int_equal(o.reply.list.n, 1);
  assert_string_equal(o.reply.list.servers[0].download_url,
                      "ws://127.0.0.1:9/ndt/v7/download?access_token=x");
  /* The request: GET, the path and query, Host, Accept, a clean User-Agent. */
  assert_non_null(strstr(c.request, "GET /v2/nearest/ndt/ndt7?client_name=t HTTP/1.1\r\n"));
  assert_non_null(strstr(c.request, "\r\nHost: 127.0.0.1:"));
  assert_non_null(strstr(c.request, "\r\nAccept: application/json\r\n"));
  assert_non_null(strstr(c.request, "\r\nUser-Agent: test/1X-Evil: 1\r\n"));
  assert_null(strstr(c.request, "\r\nX-Evil"));
}

static void fetch_refusals(void **state) {
  (void)state;
  static outcome o;
  static canned c;
  const char *a204 = "HTTP/1.1 204 No Content\r\n\r\n";
  fetch(a204, strlen(a204), 0, 0, &o, &c);
  assert_int_equal(o.err, NP_E_REFUSED);
  assert_int_equal(o.reply.status, 204);
  assert_non_null(strstr(o.reply.error_text, "no server is available"));

  const char *a429 = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 42\r\n"
                     "Content-Length: 2\r\n\r\n{}";
  fetch(a429, strlen(a429), 0, 0, &o, &c);
  assert_int_equal(o.err, NP_E_REFUSED);
  assert_int_equal(o.reply.status, 429);
  assert_int_equal(o.reply.retry_after_s, 42);
  assert_non_null(strstr(o.reply.error_text, "retry after 42 s"));

  const char *a500 = "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\n"
                     "{\"error\":{\"title\":\"boom\\u0007\"}}";
  fetch(a500, strlen(a500), 0, 0, &o, &c);
  assert_int_equal(o.err, NP_E_REFUSED);
  assert_int_equal(o.reply.status, 500);
  assert_string_equal(o.reply.error_text, "the Locate service answered HTTP 500 (boom?)");
}

static void fetch_bad_answers(void **state) {
  (void)state;
  static outcome o;
  static canned c;
  const char *garbage = "SSH-2.0-OpenSSH_9.2\r\n\r\n";
  fetch(garbage, strlen(garbage), 0, 0, &o, &c);
  assert_int_equal(o.err, NP_E_PROTO);

  const char *bigcl = "HTTP/1.1 200 OK\r\nContent-Length: 65537\r\n\r\n{";
  fetch(bigcl, strlen(bigcl), 0, 0, &o, &c);
  assert_int_equal(o.err, NP_E_TOOBIG);

  /* Until-close body over the cap. */
  static char big[NP_LOCATE_MAX_BODY + 200];
  int n = snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
  memset(big + n, ' ', sizeof big - (size_t)n);
  fetch(big, sizeof big, 0, 0, &o, &c);
  assert_int_equal(o.err, NP_E_TOOBIG);

  const char *cut = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"results\":";
  fetch(cut, strlen(cut), 0, 0, &o, &c);
  assert_true(o.err < 0);
  assert_int_not_equal(o.err, NP_E_REFUSED);

  const char *notjson = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  fetch(notjson, strlen(notjson), 0, 0, &o, &c);
  assert_int_equal(o.err, NP_E_JSON);

  const char *noserver = "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n{\"results\":[]}";
  fetch(noserver, strlen(noserver), 0, 0, &o, &c);
  assert_int_equal(o.err, -ENOENT);
}

static void fetch_timeout(void **state) {
  (void)state;
  static outcome o;
  static canned c;
  fetch("", 0, 1, 300, &o, &c);
  assert_int_equal(o.err, NP_E_TIMEOUT);
  assert_int_equal(o.reply.status, 0);
}

static void fetch_refused_connection(void **state) {
  (void)state;
  /* Bind a port, close it, then fetch from it: nothing listens. */
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  static canned c;
  memset(&c, 0, sizeof c);
  int port = canned_start(&loop, &c);
  uv_close((uv_handle_t *)&c.srv, NULL);
  (void)uv_run(&loop, UV_RUN_DEFAULT);
  char url[96];
  (void)snprintf(url, sizeof url, "http://127.0.0.1:%d/v2/nearest/ndt/ndt7", port);
  np_locate_options lo = {.url = url, .scheme = "wss"};
  static outcome o;
  assert_int_equal(np_locate_fetch(&loop, &lo, on_fetched, &o, NULL), 0);
  (void)uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(o.called, 1);
  /* -ECONNREFUSED, or -EBADF while net/conn.c passes libuv's POLLERR
   * status through instead of reading SO_ERROR. */
  assert_true(o.err == -ECONNREFUSED || o.err == -EBADF);
  assert_non_null(strstr(o.reply.error_text, "cannot reach the Locate service"));
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void fetch_cancel_and_args(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  static outcome o;
  np_locate_options lo = {.url = "http://127.0.0.1:9/x", .scheme = "ws"};
  np_locate_req *r = NULL;
  assert_int_equal(np_locate_fetch(&loop, &lo, on_fetched, &o, &r), 0);
  np_locate_cancel(r);
  assert_int_equal(o.called, 1);
  assert_int_equal(o.err, NP_E_CLOSED);
  (void)uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(o.called, 1);
  assert_int_equal(uv_loop_close(&loop), 0);

  lo.url = "ws://127.0.0.1/x";
  assert_int_equal(np_locate_fetch(&loop, &lo, on_fetched, &o, NULL), NP_E_BADARG);
  lo.url = "http://127.0.0.1/x";
  lo.scheme = "http";
  assert_int_equal(np_locate_fetch(&loop, &lo, on_fetched, &o, NULL), NP_E_BADARG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(hostport_valid),
      cmocka_unit_test(hostport_invalid),
      cmocka_unit_test(url_valid),
      cmocka_unit_test(url_invalid),
      cmocka_unit_test(parse_valid),
      cmocka_unit_test(parse_caps),
      cmocka_unit_test(parse_invalid),
      cmocka_unit_test(parse_every_prefix),
      cmocka_unit_test(retry_after),
      cmocka_unit_test(fetch_ok_chunked),
      cmocka_unit_test(fetch_refusals),
      cmocka_unit_test(fetch_bad_answers),
      cmocka_unit_test(fetch_timeout),
      cmocka_unit_test(fetch_refused_connection),
      cmocka_unit_test(fetch_cancel_and_args),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
