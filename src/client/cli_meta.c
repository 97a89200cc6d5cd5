/* netpulse CLI: what the client says about itself (its name, version, OS
 * and architecture), checked and spelled as the server keeps them, and
 * added to the Locate URL. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "client/cli.h"
#include "core/error.h"
#include "core/version.h"
#include "http/query.h"

int np_cli_valid_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 64) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && !strchr("._+-/:", s[i])) return 0;
  return 1;
}

void np_cli_meta_fill(np_cli_meta *m, const char *client_name) {
  memset(m, 0, sizeof *m);
  struct utsname un;
  if (uname(&un) == 0) {
    size_t k = 0;
    for (const char *p = un.sysname; *p && k + 1 < sizeof m->sysname; p++)
      m->sysname[k++] = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
    (void)snprintf(m->machine, sizeof m->machine, "%s", un.machine);
  }
  m->kv[0] = (np_ndt7_kv){"client_name", client_name};
  m->kv[1] = (np_ndt7_kv){"client_version", NP_VERSION};
  m->kv[2] = (np_ndt7_kv){"client_library_name", "libnetpulse"};
  m->kv[3] = (np_ndt7_kv){"client_library_version", NP_VERSION};
  m->kv[4] = (np_ndt7_kv){"client_os", m->sysname[0] ? m->sysname : "unknown"};
  m->kv[5] = (np_ndt7_kv){"client_arch", m->machine[0] ? m->machine : "unknown"};
}

int np_cli_locate_url(const np_cli_meta *m, const char *base, char *out, size_t cap) {
  int n = snprintf(out, cap, "%s", base);
  if (n < 0 || (size_t)n >= cap) return NP_E_TOOBIG;
  size_t len = (size_t)n;
  int has_q = strchr(base, '?') != NULL;
  for (size_t i = 0; i < 4; i++) { /* name, version, library name and version */
    char v[256];
    if (np_percent_encode(m->kv[i].value, v, sizeof v) < 0) return NP_E_TOOBIG;
    n = snprintf(out + len, cap - len, "%c%s=%s", has_q ? '&' : '?', m->kv[i].name, v);
    if (n < 0 || (size_t)n >= cap - len) return NP_E_TOOBIG;
    len += (size_t)n;
    has_q = 1;
  }
  return 0;
}
