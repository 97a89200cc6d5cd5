/* netpulse's data policy, as a summary every client shows before it asks
 * for consent (the netpulse CLI prints this same text). Embedders include
 * only headers under netpulse/. */
#ifndef NETPULSE_POLICY_H
#define NETPULSE_POLICY_H

#ifdef __cplusplus
extern "C" {
#endif

/* The summary of netpulse's privacy policy: what is collected (the IP
 * address and the measurement), that it is published publicly and kept
 * forever under CC0, who the joint controllers are (the netpulse
 * experiment's operator and M-Lab), and where the full text is
 * (np_data_policy_url()). Plain ASCII, lines of at most 76 columns, ends
 * with a newline. Static storage: never free it. Show it to the user and
 * run a test only after they agreed. */
const char *np_data_policy_text(void);

/* Where the full policy (docs/privacy.md) is published: the build's
 * NP_PRIVACY_POLICY_URL (CMake cache variable). Static storage. */
const char *np_data_policy_url(void);

#ifdef __cplusplus
}
#endif

#endif
