/* netpulse CLI: what `netpulse` and `netpulse rpm` share in reading their
 * command lines (flag parsing, usage errors, the address family and CA
 * file checks), so both say the same thing the same way. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/cli.h"

int np_cli_usage_error(const char *prog, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", prog);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs(" (see --help)\n", stderr);
  return NP_CLI_EXIT_USAGE;
}

int np_cli_parse_flags(const char *prog, const np_flag *flags, size_t n, int argc, char **argv,
                       void (*usage)(FILE *)) {
  char err[512] = "";
  int first = 0;
  int rc = np_flags_parse(flags, n, argc, argv, NP_CLI_ENV_PREFIX, &first, err, sizeof err);
  if (rc == 1 && usage) {
    usage(stdout);
    return 0;
  }
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", prog, err);
    return NP_CLI_EXIT_USAGE;
  }
  if (first < argc) return np_cli_usage_error(prog, "unexpected argument \"%s\"", argv[first]);
  return -1;
}

int np_cli_family(const char *prog, int ipv4, int ipv6, int *ret_family) {
  if (ipv4 && ipv6) return np_cli_usage_error(prog, "-4 and -6 exclude each other");
  *ret_family = ipv4 ? AF_INET : ipv6 ? AF_INET6 : AF_UNSPEC;
  return 0;
}

int np_cli_check_ca_file(const char *prog, const char *ca_file) {
  if (ca_file && access(ca_file, R_OK) != 0)
    return np_cli_usage_error(prog, "cannot read --ca-file \"%s\"", ca_file);
  return 0;
}

int np_cli_is_loopback(const char *host) {
  struct in_addr a4;
  struct in6_addr a6;
  if (strcasecmp(host, "localhost") == 0) return 1;
  if (inet_pton(AF_INET, host, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}
