/* netpulse-data: an archive of netpulse records in, a check, a table or a
 * report out. Shared by the tool's files (src/datatool/); the record
 * readers themselves are in the library (data/json_skim, data/record_row,
 * data/record_schema) so that the fuzz target and unit tests reach them. */
#ifndef NP_DATATOOL_H
#define NP_DATATOOL_H

#include <stdint.h>
#include <stdio.h>

#include "core/buf.h"
#include "data/json_skim.h"
#include "data/record_row.h"

/* Exit statuses (documented in --help and docs/data.md). */
enum {
  NP_DT_OK = 0,
  NP_DT_BAD_FILES = 1, /* check: a file failed; table/report: a file was skipped */
  NP_DT_USAGE = 2,
  NP_DT_IO = 3 /* a DIR could not be read, or the output could not be written */
};

/* The default cap on a file's size, compressed and decompressed: ten times
 * the largest record the server can write (~1.9 MB, src/rpm/record.h), and
 * room for a jostler bundle of a few hundred records. */
#define NP_DT_DEFAULT_MAX_BYTES ((size_t)64 << 20)

/* One JSON document of a file: a record, or a bundle line wrapping one. */
typedef struct {
  const char *path; /* the file */
  size_t index;     /* 1-based position in the file */
  const char *text; /* the file's (decompressed) content */
  size_t len;
  np_skim_span span; /* this document's extent in text */
  int bundle;        /* the file's name ends in .jsonl or .jsonl.gz */
} np_dt_doc;

typedef struct np_dt_walk np_dt_walk;

/* Called once per document; a negative return stops the walk. */
typedef int (*np_dt_doc_fn)(void *arg, const np_dt_doc *doc);
/* Called once per file that could not be read as JSON documents (too big,
 * truncated gzip, not JSON at byte N), with the reason. */
typedef void (*np_dt_bad_fn)(void *arg, const char *path, const char *why);

typedef struct {
  size_t max_bytes;
  np_dt_doc_fn on_doc;
  np_dt_bad_fn on_bad;
  void *arg;
  int progress; /* draw a progress line on stderr */
} np_dt_walk_opts;

typedef struct {
  uint64_t files;
  uint64_t docs;
  uint64_t bad_files;
  uint64_t skipped_names; /* entries that are not data files (by name) */
} np_dt_stats;

/* Walks each root (a directory, recursively, in name order, dotfiles and
 * other names left out; or a single file) and hands every document of every
 * .json, .json.gz, .jsonl and .jsonl.gz file to on_doc. Two buffers of at
 * most max_bytes each are reused from file to file: memory does not grow
 * with the archive. 0, or NP_DT_IO when a root could not be read (said on
 * stderr), or on_doc's negative return. */
int np_dt_walk_run(const np_dt_walk_opts *o, char **roots, int nroots, np_dt_stats *st);

/* Formats v the shortest way (at most 10 significant digits) that reads
 * back as the same value at that precision. */
void np_dt_fmt_num(double v, char *out, size_t cap);

/* Writes s as a JSON string (quotes included). */
void np_dt_json_str(FILE *f, const char *s);

/* The row's file label: the path, with "#N" for the N-th document of a
 * bundle (or of a .json file holding more than one). */
void np_dt_file_label(const np_dt_doc *d, char *out, size_t cap);

/* Commands; each returns an exit status. */
int np_dt_table(int argc, char **argv);
int np_dt_check(int argc, char **argv);
int np_dt_report(int argc, char **argv);

/* A command's own options: the number of argv entries consumed (0 when
 * argv[0] is not one of them), or -1 on a bad value (said on stderr). */
typedef int (*np_dt_opt_fn)(void *arg, int argc, char **argv);

/* Parses a command's arguments: the shared options (--max-bytes N,
 * --progress, --no-progress), the command's own through own(), "--", then
 * at least one DIR. The index of the first DIR, or -1 after saying why on
 * stderr (a usage error). */
int np_dt_parse_args(const char *cmd, int argc, char **argv, np_dt_walk_opts *o, np_dt_opt_fn own,
                     void *arg);

#endif
