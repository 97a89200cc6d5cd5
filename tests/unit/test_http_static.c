/* Unit tests for the test page's static answers: names that cannot leave
 * the site, content types, embedded and directory files, symlinks,
 * methods and the HTTP/1.1 encoding of a reply. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/error.h"
#include "http/reply.h"
#include "http/static.h"

static np_slice S(const char *s) { return np_slice_cstr(s); }

static int name_is(const char *path, const char *want) {
  np_slice n = np_static_name(S(path));
  if (!want) return n.len == 0;
  return np_slice_eq(n, S(want));
}

static void names(void **state) {
  (void)state;
  assert_true(name_is("/", "index.html"));
  assert_true(name_is("/app.js", "app.js"));
  assert_true(name_is("/lib/chart-1.2_x.mjs", "lib/chart-1.2_x.mjs"));
  static const char *const bad[] = {
      "",       "app.js",       "/..",   "/../etc/passwd", "/a/../b", "/./a",
      "/.env",  "/a/.git/HEAD", "//a",   "/a//b",          "/a/",     "/%2e%2e/x",
      "/a%2fb", "/a b",         "/a\\b", "/a:b",           "/~root",  "/a/b/c/d/e/f/g/h/i",
      "/a?b",   "/\x80",        "/a\x01"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (!name_is(bad[i], NULL)) fail_msg("accepted \"%s\"", bad[i]);
  }
  char longname[NP_STATIC_MAX_NAME + 3];
  memset(longname, 'a', sizeof longname - 1);
  longname[0] = '/';
  longname[sizeof longname - 1] = 0;
  assert_true(name_is(longname, NULL));
  longname[NP_STATIC_MAX_NAME + 1] = 0; /* exactly the cap */
  assert_int_equal(np_static_name(S(longname)).len, NP_STATIC_MAX_NAME);
}

static void types(void **state) {
  (void)state;
  assert_string_equal(np_static_content_type(S("index.html")), "text/html; charset=utf-8");
  assert_string_equal(np_static_content_type(S("a.JS")), "text/javascript; charset=utf-8");
  assert_string_equal(np_static_content_type(S("a.mjs")), "text/javascript; charset=utf-8");
  assert_string_equal(np_static_content_type(S("a.css")), "text/css; charset=utf-8");
  assert_string_equal(np_static_content_type(S("a.svg")), "image/svg+xml");
  assert_string_equal(np_static_content_type(S("a.png")), "image/png");
  assert_string_equal(np_static_content_type(S("a.json")), "application/json");
  assert_string_equal(np_static_content_type(S("a.txt")), "text/plain; charset=utf-8");
  assert_string_equal(np_static_content_type(S("favicon.ico")), "image/x-icon");
  assert_string_equal(np_static_content_type(S("a.wasm")), "application/octet-stream");
  assert_string_equal(np_static_content_type(S("js")), "application/octet-stream");
}

static const char *field(const np_http_reply *r, const char *name) {
  for (size_t i = 0; i < r->nfields; i++)
    if (strcmp(r->fields[i].name, name) == 0) return r->fields[i].value;
  return NULL;
}

static const unsigned char kIndex[] = "<!doctype html>";
static const unsigned char kApp[] = "let x = 1;";
static const unsigned char kPolicy[] = "# Privacy";
static const np_static_file kFiles[] = {{"app.js", kApp, sizeof kApp - 1},
                                        {"index.html", kIndex, sizeof kIndex - 1}};
static const np_static_file kPrivacy = {"privacy", kPolicy, sizeof kPolicy - 1};

static void embedded(void **state) {
  (void)state;
  np_static_site site = {kFiles, 2, -1, &kPrivacy};
  np_http_reply r;
  assert_int_equal(np_static_lookup(&site, S("GET"), S("/"), &r), 0);
  assert_int_equal(r.status, 200);
  assert_true(np_slice_eq(r.body, S("<!doctype html>")));
  assert_string_equal(field(&r, "content-type"), "text/html; charset=utf-8");
  assert_string_equal(field(&r, "cache-control"), "no-cache");
  assert_string_equal(field(&r, "content-security-policy"), NP_STATIC_CSP);
  assert_string_equal(field(&r, "x-content-type-options"), "nosniff");
  assert_false(r.head_only);
  np_http_reply_free(&r);

  assert_int_equal(np_static_lookup(&site, S("HEAD"), S("/app.js"), &r), 0);
  assert_int_equal(r.status, 200);
  assert_true(r.head_only);
  assert_int_equal(r.body.len, sizeof kApp - 1);
  assert_string_equal(field(&r, "content-type"), "text/javascript; charset=utf-8");
  np_buf out;
  np_buf_init(&out, 4096);
  assert_int_equal(np_http_reply_write(&out, &r, 1), 0);
  np_buf_append(&out, "", 1);
  assert_non_null(strstr((char *)out.data, "\r\nContent-Length: 10\r\n\r\n"));
  assert_null(strstr((char *)out.data, "let x")); /* HEAD: no body */
  assert_null(strstr((char *)out.data, "Connection: close"));
  np_buf_free(&out);
  np_http_reply_free(&r);

  assert_int_equal(np_static_lookup(&site, S("GET"), S("/privacy"), &r), 0);
  assert_int_equal(r.status, 200);
  assert_string_equal(field(&r, "content-type"), "text/plain; charset=utf-8");
  assert_true(np_slice_eq(r.body, S("# Privacy")));
  np_http_reply_free(&r);

  assert_int_equal(np_static_lookup(&site, S("GET"), S("/missing.js"), &r), 0);
  assert_int_equal(r.status, 404);
  assert_string_equal(field(&r, "x-content-type-options"), "nosniff");
  np_http_reply_free(&r);
  assert_int_equal(np_static_lookup(&site, S("GET"), S("/../index.html"), &r), 0);
  assert_int_equal(r.status, 404);
  np_http_reply_free(&r);
  assert_int_equal(np_static_lookup(&site, S("POST"), S("/"), &r), 0);
  assert_int_equal(r.status, 405);
  assert_string_equal(field(&r, "allow"), "GET, HEAD");
  np_buf_init(&out, 4096);
  assert_int_equal(np_http_reply_write(&out, &r, 0), 0);
  np_buf_append(&out, "", 1);
  assert_non_null(strstr((char *)out.data, "HTTP/1.1 405 "));
  assert_non_null(strstr((char *)out.data, "Connection: close\r\n"));
  np_buf_free(&out);
  np_http_reply_free(&r);

  site.privacy = NULL;
  assert_int_equal(np_static_lookup(&site, S("GET"), S("/privacy"), &r), 0);
  assert_int_equal(r.status, 404);
  np_http_reply_free(&r);
}

static void put(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void directory(void **state) {
  (void)state;
  char root[] = "/tmp/np_static_XXXXXX";
  assert_non_null(mkdtemp(root));
  char p[512], outside[512];
  snprintf(p, sizeof p, "%s/site", root);
  assert_int_equal(mkdir(p, 0700), 0);
  snprintf(p, sizeof p, "%s/site/sub", root);
  assert_int_equal(mkdir(p, 0700), 0);
  snprintf(p, sizeof p, "%s/site/index.html", root);
  put(p, "<p>mine</p>");
  snprintf(p, sizeof p, "%s/site/sub/a.css", root);
  put(p, "p{}");
  snprintf(p, sizeof p, "%s/site/.secret", root);
  put(p, "no");
  snprintf(outside, sizeof outside, "%s/outside.txt", root);
  put(outside, "outside");
  snprintf(p, sizeof p, "%s/site/link.txt", root);
  assert_int_equal(symlink(outside, p), 0);
  snprintf(p, sizeof p, "%s/site/up", root);
  assert_int_equal(symlink(root, p), 0);
  snprintf(p, sizeof p, "%s/site/fifo.txt", root);
  assert_int_equal(mkfifo(p, 0600), 0);
  snprintf(p, sizeof p, "%s/site", root);
  int fd = -1;
  assert_int_equal(np_static_dir_open(p, &fd), 0);
  np_static_site site = {NULL, 0, fd, &kPrivacy};
  np_http_reply r;
  assert_int_equal(np_static_lookup(&site, S("GET"), S("/"), &r), 0);
  assert_int_equal(r.status, 200);
  assert_true(np_slice_eq(r.body, S("<p>mine</p>")));
  np_http_reply_free(&r);
  assert_int_equal(np_static_lookup(&site, S("GET"), S("/sub/a.css"), &r), 0);
  assert_int_equal(r.status, 200);
  assert_string_equal(field(&r, "content-type"), "text/css; charset=utf-8");
  np_http_reply_free(&r);
  /* Read at request time: a change shows at once. */
  snprintf(p, sizeof p, "%s/site/index.html", root);
  put(p, "<p>changed</p>");
  assert_int_equal(np_static_lookup(&site, S("GET"), S("/"), &r), 0);
  assert_true(np_slice_eq(r.body, S("<p>changed</p>")));
  np_http_reply_free(&r);
  static const char *const denied[] = {"/.secret", "/link.txt", "/up/outside.txt", "/fifo.txt",
                                       "/sub",     "/nope",     "/../outside.txt"};
  for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++) {
    assert_int_equal(np_static_lookup(&site, S("GET"), S(denied[i]), &r), 0);
    if (r.status != 404) fail_msg("%s: status %d", denied[i], r.status);
    np_http_reply_free(&r);
  }
  /* Over the size cap: refused, not read. */
  snprintf(p, sizeof p, "%s/site/big.txt", root);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  assert_int_equal(ftruncate(fileno(f), NP_STATIC_MAX_FILE + 1), 0);
  fclose(f);
  assert_int_equal(np_static_lookup(&site, S("GET"), S("/big.txt"), &r), 0);
  assert_int_equal(r.status, 500);
  np_http_reply_free(&r);
  close(fd);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(names), cmocka_unit_test(types),
                                     cmocka_unit_test(embedded), cmocka_unit_test(directory)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
