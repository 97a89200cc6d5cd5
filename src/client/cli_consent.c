/* netpulse CLI: the data-policy opt-in decision and its explanation. */
#include <ctype.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>
#include <strings.h>

#include "client/cli.h"
#include "netpulse/policy.h"

np_consent_decision np_cli_consent_decide(int accepted, int stdin_tty, int stderr_tty) {
  if (accepted) return NP_CONSENT_GIVEN;
  /* Only ask when a person can both read the question and answer it. */
  if (stdin_tty && stderr_tty) return NP_CONSENT_ASK;
  return NP_CONSENT_REFUSE;
}

int np_cli_consent_yes(const char *line) {
  if (!line) return 0;
  while (*line && isspace((unsigned char)*line)) line++;
  size_t n = strlen(line);
  while (n > 0 && isspace((unsigned char)line[n - 1])) n--;
  return (n == 1 && strncasecmp(line, "y", 1) == 0) || (n == 3 && strncasecmp(line, "yes", 3) == 0);
}

void np_cli_print_policy(FILE *f) { fputs(np_data_policy_text(), f); }

int np_cli_consent(int accepted) {
  switch (np_cli_consent_decide(accepted, isatty(STDIN_FILENO), isatty(STDERR_FILENO))) {
  case NP_CONSENT_GIVEN:
    return 0;
  case NP_CONSENT_ASK: {
    np_cli_print_policy(stderr);
    fprintf(stderr, "\nDo you accept this and want to run the test? [y/N] ");
    (void)fflush(stderr);
    char line[64];
    if (fgets(line, sizeof line, stdin) && np_cli_consent_yes(line)) return 0;
    fprintf(stderr, "netpulse: not accepted; nothing was sent\n");
    return NP_CLI_EXIT_USAGE;
  }
  case NP_CONSENT_REFUSE:
  default:
    np_cli_print_policy(stderr);
    fprintf(stderr, "netpulse: refusing to run without your consent: pass --accept-data-policy "
                    "(or set NETPULSE_ACCEPT_DATA_POLICY=1) to accept netpulse's data policy\n");
    return NP_CLI_EXIT_USAGE;
  }
}
