/* netpulse CLI internals shared by main.c and the output, consent and
 * progress helpers (pure pieces are unit-tested by including their .c). */
#ifndef NP_CLIENT_CLI_H
#define NP_CLIENT_CLI_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "core/flags.h"
#include "netpulse/ndt7.h"
#include "netpulse/rpm.h"

#define NP_CLI_SCHEMA_VERSION 1
#define NP_CLI_EXIT_USAGE 2
/* Every flag can also be given as NETPULSE_<FLAG> in the environment. */
#define NP_CLI_ENV_PREFIX "NETPULSE_"

/* The result of one test as the CLI reports it. */
typedef struct {
  int selected; /* the user asked for this test */
  int ran;      /* r holds the engine's result */
  np_ndt7_result r;
  char error[512];         /* plain-words failure ("" when it passed) */
  char hint[256];          /* what the user can do about it ("" if nothing) */
  unsigned dropped_events; /* JSON measurement events not written (rate, cap) */
} np_cli_test;

/* Everything the final summary shows. */
typedef struct {
  char server_fqdn[256]; /* host name the tests used */
  char scheme[4];        /* "ws" or "wss" */
  np_cli_test test[2];   /* indexed by np_ndt7_direction */
} np_cli_summary;

/* ---- command lines (cli_args.c) ---- */

/* Prints "<prog>: <message> (see --help)" on stderr; returns
 * NP_CLI_EXIT_USAGE. */
int np_cli_usage_error(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parses argv[1..argc) and the environment into flags. Returns -1 to go
 * on, or the exit status to end with: 0 after printing usage (-h, when
 * usage is not NULL) on stdout, NP_CLI_EXIT_USAGE after saying on stderr
 * what is wrong (a bad flag or value, a stray argument). */
int np_cli_parse_flags(const char *prog, const np_flag *flags, size_t n, int argc, char **argv,
                       void (*usage)(FILE *));

/* -4/-6 into *ret_family (AF_UNSPEC with neither): 0, or the usage exit
 * status when both are given. */
int np_cli_family(const char *prog, int ipv4, int ipv6, int *ret_family);

/* 1 when host is a loopback address (127.0.0.0/8, ::1) or "localhost". */
int np_cli_is_loopback(const char *host);

/* 0 when ca_file is NULL or readable, else the usage exit status. */
int np_cli_check_ca_file(const char *prog, const char *ca_file);

/* ---- the client's metadata (cli_meta.c) ---- */

/* What the client sends about itself: kv[0..6) as name/value pairs
 * (client_name, client_version, client_library_name and _version,
 * client_os, client_arch); the values point into this struct or are
 * static, except client_name, the caller's, which must outlive it. */
typedef struct {
  np_ndt7_kv kv[6];
  char sysname[65], machine[65];
} np_cli_meta;

/* 1 when s is what the server keeps as a metadata value (docs/data.md:
 * 1-64 of [A-Za-z0-9._+-/:]); anything else would be dropped there. */
int np_cli_valid_name(const char *s);

/* Fills m from uname(2) and the build's version. */
void np_cli_meta_fill(np_cli_meta *m, const char *client_name);

/* base with the name and version pairs appended as query parameters:
 * 0, or NP_E_TOOBIG when out (cap bytes) cannot hold it. */
int np_cli_locate_url(const np_cli_meta *m, const char *base, char *out, size_t cap);

/* ---- consent (cli_consent.c) ---- */

typedef enum {
  NP_CONSENT_GIVEN,  /* --accept-data-policy */
  NP_CONSENT_ASK,    /* interactive: ask y/N on the terminal */
  NP_CONSENT_REFUSE, /* not accepted and no terminal to ask on */
} np_consent_decision;

/* What to do about the data policy, before any network traffic. */
np_consent_decision np_cli_consent_decide(int accepted, int stdin_tty, int stderr_tty);

/* 1 when an answer line means yes ("y" or "yes", any case, surrounding
 * blanks and the newline ignored), else 0. */
int np_cli_consent_yes(const char *line);

/* Prints what M-Lab collects and publishes. */
void np_cli_print_policy(FILE *f);

/* The data-policy gate, before any network traffic: 0 to go on, or the
 * exit status (NP_CLI_EXIT_USAGE) after telling the user why not. */
int np_cli_consent(int accepted);

/* ---- output (cli_output.c) ---- */

/* Fills t->error and t->hint for a failed result, in plain words, with a
 * hint keyed on the error code (cleartext port under wss, busy server with
 * Retry-After, untrusted certificate, refused connection). */
void np_cli_describe_failure(np_cli_test *t, const char *scheme, int verify_tls);

/* The hint for a refused test (NP_E_REFUSED): what the server's reason in
 * error_text means ("... HTTP 503 (lame_duck) ...", see the client
 * library's refusal text) and when to try again; otherwise_what when it
 * names none. Written into buf, which is returned. */
const char *np_cli_refused_hint(const char *error_text, int retry_after_s,
                                const char *otherwise_what, char *buf, size_t cap);

/* "the server reported figures that cannot be true: ..." for the
 * NP_NDT7_IMPLAUSIBLE_* bits, into out. */
void np_cli_implausible_text(unsigned bits, char *out, size_t cap);

/* Failed tests among the selected ones (a selected test that never ran
 * counts as failed). */
int np_cli_failed_count(const np_cli_summary *s);

/* ndt7-client-go-shaped events: {"Key":"starting","Value":{"Test":..}} and
 * "connected" (with "Server"), "error" (with "Failure"), "complete". */
json_t *np_cli_event_json(const char *key, np_ndt7_direction dir, const char *server,
                          const char *failure);

/* {"Key":"measurement","Value":{..,"Origin":"client"|"server","Test":..}}:
 * AppInfo for client ticks; TCPInfo (and BBRInfo when known) for the
 * server's measurements. */
json_t *np_cli_measurement_json(const np_ndt7_measurement *m);

/* The final summary object (ndt7-client-go's shape plus netpulse fields). */
json_t *np_cli_summary_json(const np_cli_summary *s);

/* Writes j as one compact line to f (key order kept). 0 or -1. */
int np_cli_print_json_line(FILE *f, const json_t *j);

/* The human-readable summary. */
void np_cli_print_human(FILE *f, const np_cli_summary *s);

/* ---- progress (cli_progress.c) ---- */

/* Formats the one-line live view ("download  3.2 s   93.4 Mbit/s"). */
int np_cli_progress_format(char *out, size_t cap, np_ndt7_direction dir, double elapsed_s,
                           double mbps, const char *server);

/* Redraws the line on f (a terminal), or clears it when line is NULL. */
void np_cli_progress_draw(FILE *f, const char *line);

/* ---- responsiveness (cli_rpm.c, cli_rpm_output.c) ---- */

/* `netpulse rpm`: argv[0] is "rpm". Returns the exit status. */
int np_cli_rpm_main(int argc, char **argv);

/* Runs one RPM test on loop and prints its result (human or one JSON
 * line; with json and ret_json, the object is returned instead, for the
 * caller to print). Returns 0 (result), 1 (failed) or 130 (interrupted). */
int np_cli_rpm_run(uv_loop_t *loop, const np_rpm_options *o, int json, int verbose, int quiet,
                   int optional, json_t **ret_json);

/* Fills o's parameters from the NETPULSE_RPM_* environment (defaults
 * otherwise), for the RPM part of a plain run. 0 or the usage exit status. */
int np_cli_rpm_env_params(np_rpm_options *o);

/* "1s", "250ms", "1.5s", "2m" or plain seconds, into ms. 0 or NP_E_BADARG. */
int np_cli_parse_duration_ms(const char *s, uint64_t *ret);

/* Whether the result counts as a failed test. */
int np_cli_rpm_failed(const np_rpm_result *r);

/* The CLI's JSON result: the summary the server gets plus Test, Band,
 * latencies, endpoints, Errors and (samples non-NULL) Samples. */
json_t *np_cli_rpm_json(const np_rpm_result *r, json_t *samples, const char *failure,
                        const char *hint);
json_t *np_cli_rpm_sample_json(const np_rpm_probe_sample *s);
void np_cli_rpm_print_human(FILE *f, const np_rpm_result *r, const char *failure, const char *hint);

/* "the server ended the load at its transmit allowance after X s / N MB"
 * for the first phase the server cut short, into out; NULL when none. */
const char *np_cli_rpm_server_note(const np_rpm_result *r, char *out, size_t cap);
int np_cli_rpm_progress_format(char *out, size_t cap, const np_rpm_progress *p);

#endif
