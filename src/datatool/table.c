/* netpulse-data table: one row per test (per phase for responsiveness1). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datatool/datatool.h"

typedef struct {
  int jsonl;
  int with_ip;
  int write_failed;
  unsigned long long not_records;
} table_ctx;

void np_dt_fmt_num(double v, char *out, size_t cap) {
  for (int p = 1; p <= 10; p++) {
    snprintf(out, cap, "%.*g", p, v);
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%.10g", v);
    if (strtod(out, NULL) == strtod(tmp, NULL)) return;
  }
}

void np_dt_json_str(FILE *f, const char *s) {
  putc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p < 0x20 || *p == 0x7f)
      fprintf(f, "\\u%04x", *p);
    else if (*p >= 0x80)
      putc('?', f); /* paths only; never bytes that are not UTF-8 */
    else
      putc(*p, f);
  }
  putc('"', f);
}

/* RFC 4180: quoted when it holds a comma, quote or line break. */
static void csv_str(FILE *f, const char *s) {
  if (!strpbrk(s, ",\"\r\n")) {
    fputs(s, f);
    return;
  }
  putc('"', f);
  for (; *s; s++) {
    if (*s == '"') putc('"', f);
    putc(*s, f);
  }
  putc('"', f);
}

void np_dt_file_label(const np_dt_doc *d, char *out, size_t cap) {
  if (d->bundle || d->index > 1)
    snprintf(out, cap, "%s#%zu", d->path, d->index);
  else
    snprintf(out, cap, "%s", d->path);
}

static void put_row(table_ctx *t, const char *datatype, const np_row *r, const char *file) {
  const char *strs[4] = {datatype, r->test, r->start_time, r->id};
  char num[32];
  FILE *f = stdout;
  if (t->jsonl) putc('{', f);
  for (int i = 0; i < 4 + NP_NCOLS + 1; i++) {
    const char *name = np_row_columns[i];
    if (t->jsonl) {
      fprintf(f, "%s\"%s\":", i ? "," : "", name);
    } else if (i) {
      putc(',', f);
    }
    if (i < 4 || i == 4 + NP_NCOLS) {
      const char *s = i < 4 ? strs[i] : file;
      if (t->jsonl)
        np_dt_json_str(f, s);
      else
        csv_str(f, s);
      continue;
    }
    int c = i - 4;
    if (r->has & (1u << c)) {
      np_dt_fmt_num(r->v[c], num, sizeof num);
      fputs(num, f);
    } else if (t->jsonl) {
      fputs("null", f);
    }
  }
  if (t->with_ip) {
    if (t->jsonl) {
      fputs(",\"client_ip\":", f);
      np_dt_json_str(f, r->client_ip);
    } else {
      putc(',', f);
      csv_str(f, r->client_ip);
    }
  }
  fputs(t->jsonl ? "}\n" : "\n", f);
}

static int on_doc(void *arg, const np_dt_doc *d) {
  table_ctx *t = arg;
  np_record_rows rows;
  if (np_record_rows_of(d->text, d->len, d->span, &rows) < 0) {
    fprintf(stderr, "netpulse-data: %s: document %zu is not an ndt7 or responsiveness1 record\n",
            d->path, d->index);
    t->not_records++;
    return 0;
  }
  char file[4200];
  np_dt_file_label(d, file, sizeof file);
  for (size_t i = 0; i < rows.n; i++) put_row(t, rows.datatype, &rows.rows[i], file);
  if (ferror(stdout)) {
    t->write_failed = 1;
    return -1;
  }
  return 0;
}

static void on_bad(void *arg, const char *path, const char *why) {
  (void)arg;
  fprintf(stderr, "netpulse-data: %s: %s (skipped)\n", path, why);
}

static int table_opt(void *arg, int argc, char **argv) {
  table_ctx *t = arg;
  if (strcmp(argv[0], "--with-ip") == 0) {
    t->with_ip = 1;
    return 1;
  }
  if (strcmp(argv[0], "--format") != 0) return 0;
  if (argc < 2 || (strcmp(argv[1], "jsonl") != 0 && strcmp(argv[1], "csv") != 0)) {
    fprintf(stderr, "netpulse-data table: --format is csv or jsonl\n");
    return -1;
  }
  t->jsonl = strcmp(argv[1], "jsonl") == 0;
  return 2;
}

int np_dt_table(int argc, char **argv) {
  table_ctx t = {0};
  np_dt_walk_opts o = {NP_DT_DEFAULT_MAX_BYTES, on_doc, on_bad, &t, isatty(STDERR_FILENO)};
  int i = np_dt_parse_args("table", argc, argv, &o, table_opt, &t);
  if (i < 0) return NP_DT_USAGE;
  if (!t.jsonl) {
    for (int c = 0; np_row_columns[c]; c++) printf("%s%s", c ? "," : "", np_row_columns[c]);
    puts(t.with_ip ? ",client_ip" : "");
  }
  np_dt_stats st = {0};
  int rc = np_dt_walk_run(&o, argv + i, argc - i, &st);
  if (fflush(stdout) != 0 || t.write_failed) {
    fprintf(stderr, "netpulse-data table: writing the table failed\n");
    return NP_DT_IO;
  }
  if (rc < 0) {
    fprintf(stderr, "netpulse-data table: stopped: error %d\n", rc);
    return NP_DT_IO;
  }
  if (rc) return rc;
  return st.bad_files || t.not_records ? NP_DT_BAD_FILES : NP_DT_OK;
}
