/* Command-line flags with environment fallbacks (NETPULSE_<FLAG>), one table
 * per program, and --help generated from it. No logging, no exit. */
#ifndef NP_CORE_FLAGS_H
#define NP_CORE_FLAGS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
  NP_FLAG_STRING, /* const char * (points into argv/environ) */
  NP_FLAG_BOOL,   /* int: --x sets 1; --x=false / env "0|false|no" sets 0 */
  NP_FLAG_INT,    /* long long, with [min, max] */
  NP_FLAG_LIST,   /* np_flag_list: repeatable */
} np_flag_type;

#define NP_FLAG_LIST_MAX 16

typedef struct {
  size_t n;
  const char *items[NP_FLAG_LIST_MAX];
  char *owned; /* the split copy of an environment value, or NULL */
} np_flag_list;

/* Frees what parsing allocated for a list (the environment copy). */
void np_flag_list_free(np_flag_list *l);

typedef struct {
  const char *name; /* long name without "--", e.g. "datadir" */
  char short_name;  /* 0 if none */
  np_flag_type type;
  void *target;
  const char *metavar; /* e.g. "DIR"; NULL for bools */
  const char *help;    /* one line; the default is shown from def */
  const char *def;     /* default as shown in --help (documentation only) */
  long long min, max;  /* NP_FLAG_INT bounds */
  int no_env;          /* 1: no NETPULSE_<FLAG> fallback */
} np_flag;

/* Parses argv[1..] then the environment for flags not given. Stops at the
 * first positional argument ("--" ends flags) and stores its index in
 * *ret_first_arg (argc when none). "-h"/"--help" returns 1. On a bad flag
 * or value returns NP_E_BADARG with a one-line message in err. */
int np_flags_parse(const np_flag *flags, size_t n, int argc, char **argv, const char *env_prefix,
                   int *ret_first_arg, char *err, size_t errcap);

/* Prints the flag table ("  --name METAVAR   help (default: def) [$ENV]"). */
void np_flags_usage(FILE *f, const np_flag *flags, size_t n, const char *env_prefix);

/* Parses "1", "true", "yes", "on" / "0", "false", "no", "off". */
int np_parse_bool(const char *s, int *ret);

/* Parses a decimal integer with an optional SI suffix (k, M, G, T: powers of
 * 1000; Ki, Mi, Gi, Ti: powers of 1024). */
int np_parse_size(const char *s, long long *ret);

#endif
