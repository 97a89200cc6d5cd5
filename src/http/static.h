/* The test page's files as HTTP answers: embedded files or a directory
 * read at request time, under names that cannot leave it. Protocol
 * neutral (np_http_reply); the only I/O is reading the directory's files. */
#ifndef NP_HTTP_STATIC_H
#define NP_HTTP_STATIC_H

#include <stddef.h>

#include "core/slice.h"
#include "http/reply.h"

#define NP_STATIC_MAX_NAME 255
#define NP_STATIC_MAX_FILE (8u << 20) /* bytes of one file served from a directory */

/* The policy every page answer carries: the page loads from and talks to
 * its own origin only (WebSockets included: 'self' does not cover ws: in
 * every browser still in use). */
#define NP_STATIC_CSP                                                                              \
  "default-src 'self'; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; "          \
  "form-action 'self'; frame-ancestors 'none'"

typedef struct {
  const char *name; /* path under the site's root, e.g. "index.html" */
  const unsigned char *data;
  size_t len;
} np_static_file;

typedef struct {
  const np_static_file *files; /* embedded files (unused when dirfd >= 0) */
  size_t nfiles;
  int dirfd;                     /* >= 0: serve this directory instead */
  const np_static_file *privacy; /* served at /privacy as text/plain; NULL: none */
} np_static_site;

/* Opens dir for np_static_site.dirfd (O_DIRECTORY, close-on-exec). 0 or
 * a negative errno; *ret_fd untouched on failure. */
int np_static_dir_open(const char *dir, int *ret_fd);

/* The name a request path asks for ("/" is "index.html"), or an empty
 * slice when the path is not a servable name: segments of [A-Za-z0-9._-]
 * that do not start with '.', separated by single '/', at most
 * NP_STATIC_MAX_NAME bytes. Percent-escapes are not decoded, so "..",
 * "%2e%2e", dotfiles and "//" never name a file. */
np_slice np_static_name(np_slice path);

/* Content-Type for a name, by its extension (html, js, mjs, css, svg, png,
 * json, txt, ico; otherwise application/octet-stream). */
const char *np_static_content_type(np_slice name);

/* Answers method and path (query excluded) from the site into *ret: 200
 * (GET, HEAD), 404 (no such file), 405 (another method), or 500 (a
 * directory file that cannot be read or is over NP_STATIC_MAX_FILE). 0,
 * or -ENOMEM. Release *ret with np_http_reply_free. */
int np_static_lookup(const np_static_site *site, np_slice method, np_slice path,
                     np_http_reply *ret);

#endif
