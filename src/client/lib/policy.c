/* The data-policy summary every netpulse client shows before a test: the
 * text of docs/privacy.md in brief, in the library so that embedders show
 * the same words as the CLI. */
#include "netpulse/policy.h"

#include "core/version.h"

/* Keep in step with docs/privacy.md ("What personal data we collect",
 * "Publication", "Who is responsible"). */
static const char kText[] =
    "netpulse data policy (summary)\n"
    "- Collected: your public IP address and the TCP port your device used,\n"
    "  and the measurement: times, byte counts, the server's TCP statistics\n"
    "  for the test connection, the numbers your client reports, and your\n"
    "  client's name, version, OS type and processor architecture. Nothing\n"
    "  else about you; no text you type.\n"
    "- Published: Measurement Lab (M-Lab) publishes every test, including\n"
    "  your IP address, publicly and forever as open data under the CC0\n"
    "  public-domain dedication. Published data cannot be recalled.\n"
    "- Responsible: the operator of the netpulse experiment and M-Lab are\n"
    "  joint controllers of this data.\n"
    "- Full policy: " NP_PRIVACY_POLICY_URL "\n"
    "  M-Lab's privacy policy: https://www.measurementlab.net/privacy/\n";

const char *np_data_policy_text(void) { return kText; }

const char *np_data_policy_url(void) { return NP_PRIVACY_POLICY_URL; }
