/* netpulse-data's entry point: the commands, their shared options, --help. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/version.h"
#include "datatool/datatool.h"

static const char usage[] =
    "Usage: netpulse-data check [--quiet] [OPTIONS] DIR...\n"
    "       netpulse-data table [--format csv|jsonl] [--with-ip] [OPTIONS] DIR...\n"
    "       netpulse-data report [OPTIONS] DIR... > report.html\n"
    "\n"
    "Reads netpulse data files as the server's spool holds them\n"
    "(<datatype>/YYYY/MM/DD/<file>) or as M-Lab's archive hands them out:\n"
    "ndt7 .json.gz files, responsiveness1 .json files, and gzipped JSON-lines\n"
    "bundles (.jsonl.gz, one record per line, bare or in jostler's \"raw\"\n"
    "member). A DIR may also be a single file. Directories are walked in name\n"
    "order; dotfiles (the spool's staging files) and other names are left out.\n"
    "\n"
    "check   validates every record against its BigQuery schema (schemas/,\n"
    "        built in): types, no unknown fields, required fields, units in\n"
    "        range (*Ms, *Mbps, *Pct, ports, RPM, byte counts). Prints one line\n"
    "        per bad file on stdout, \"FILE: reason\"; a summary on stderr.\n"
    "table   one row per test (per loaded phase for responsiveness1), CSV with\n"
    "        a header (default) or JSON lines, columns in this order:\n"
    "          datatype,test,start_time,id,throughput_mbps,min_rtt_ms,\n"
    "          server_loaded_rtt_ms,client_rpm,client_loaded_latency_ms,\n"
    "          retrans_pct,file\n"
    "        An empty cell (null in JSON) means the record does not say.\n"
    "        --with-ip adds client_ip as a last column: client IPs are\n"
    "        personal data, left out unless asked for.\n"
    "report  one self-contained HTML page (no request to any other origin;\n"
    "        open it from file://): throughput distributions per direction,\n"
    "        RPM and server RTT-under-load distributions, idle vs loaded\n"
    "        latency, tests per hour. Memory stays flat: figures are binned.\n"
    "\n"
    "Options:\n"
    "      --max-bytes N                  a file larger than N bytes, compressed or not, is "
    "reported and not read (default: 67108864, 64 MiB)\n"
    "      --progress                     a progress line on stderr (default: only when stderr is "
    "a terminal)\n"
    "      --no-progress                  no progress line\n"
    "      --format csv|jsonl             table: CSV with a header, or JSON lines (default: csv)\n"
    "      --with-ip                      table: add client_ip as the last column (personal data)\n"
    "      --quiet                        check: no summary line on stderr\n"
    "  -h, --help                         this text\n"
    "      --version                      print the version and exit\n"
    "\n"
    "Column definitions: docs/data.md (\"netpulse-data\"); the same table over\n"
    "M-Lab's BigQuery tables: docs/queries/*.sql.\n"
    "\n"
    "Exit status: 0 all files read (check: and valid); 1 check found a bad\n"
    "file, or table/report skipped one (said on stderr); 2 usage error;\n"
    "3 a DIR could not be read or the output could not be written.\n";

static int common_opt(int argc, char **argv, np_dt_walk_opts *o) {
  if (strcmp(argv[0], "--progress") == 0) {
    o->progress = 1;
    return 1;
  }
  if (strcmp(argv[0], "--no-progress") == 0) {
    o->progress = 0;
    return 1;
  }
  if (strcmp(argv[0], "--max-bytes") == 0) {
    char *end = NULL;
    unsigned long long v = argc > 1 ? strtoull(argv[1], &end, 10) : 0;
    if (argc < 2 || !end || *end || v < 1024 || v > ((unsigned long long)1 << 34) ||
        argv[1][0] == '-') {
      fprintf(stderr, "netpulse-data: --max-bytes takes a number of bytes, 1024 to 2^34\n");
      return -1;
    }
    o->max_bytes = (size_t)v;
    return 2;
  }
  return 0;
}

int np_dt_parse_args(const char *cmd, int argc, char **argv, np_dt_walk_opts *o, np_dt_opt_fn own,
                     void *arg) {
  int i = 0;
  while (i < argc && argv[i][0] == '-') {
    if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    }
    int used = common_opt(argc - i, argv + i, o);
    if (used == 0 && own) used = own(arg, argc - i, argv + i);
    if (used < 0) return -1;
    if (used == 0) {
      fprintf(stderr, "netpulse-data %s: unknown option %s (see netpulse-data --help)\n", cmd,
              argv[i]);
      return -1;
    }
    i += used;
  }
  if (i >= argc) {
    fprintf(stderr, "netpulse-data %s: which directories? (see netpulse-data --help)\n", cmd);
    return -1;
  }
  return i;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage, stderr);
    return NP_DT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
    fputs(usage, stdout);
    return NP_DT_OK;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("netpulse-data %s (%s)\n", NP_VERSION, NP_GIT_COMMIT);
    return NP_DT_OK;
  }
  for (int i = 2; i < argc; i++)
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      fputs(usage, stdout);
      return NP_DT_OK;
    }
  if (strcmp(cmd, "table") == 0) return np_dt_table(argc - 2, argv + 2);
  if (strcmp(cmd, "check") == 0) return np_dt_check(argc - 2, argv + 2);
  if (strcmp(cmd, "report") == 0) return np_dt_report(argc - 2, argv + 2);
  fprintf(stderr, "netpulse-data: unknown command %s (check, table or report; --help)\n", cmd);
  return NP_DT_USAGE;
}
