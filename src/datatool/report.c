/* netpulse-data report: the table's rows binned (flat memory), written as
 * one self-contained HTML page that draws its charts with the test page's
 * own chart code (web/charts.js and web/stats.js, inlined). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "datatool/datatool.h"
#include "datatool/report.h"
#include "server/web_assets.h"

/* Log-spaced bins, 1e-4 to 1e8 in any unit: 40 a decade (~6 % wide), enough
 * for a distribution's shape and its quantiles, in 4 KB per metric. */
#define BINS_PER_DECADE 40
#define LOG_MIN (-4)
#define NBINS (12 * BINS_PER_DECADE)
/* Values drawn per distribution: quantiles read off the bins. */
#define MAX_POINTS 200
/* Tests per hour over at most 20 years; earlier or later times are counted
 * apart, so a bogus date cannot grow the array. */
#define MAX_HOURS (20 * 366 * 24)

enum { M_TPUT, M_MINRTT, M_LOADED, M_RPM, M_CLIENT_LAT, M_RETRANS, M_N };
static const char *const metric_names[M_N] = {"throughput_mbps",          "min_rtt_ms",
                                              "server_loaded_rtt_ms",     "client_rpm",
                                              "client_loaded_latency_ms", "retrans_pct"};

typedef struct {
  uint64_t n;
  double min, max;
  uint32_t bins[NBINS];
} hist;

enum { G_NDT7_DOWN, G_NDT7_UP, G_RPM_DOWN, G_RPM_UP, G_RPM_PAR, G_N };
static const char *const group_names[G_N] = {"ndt7 download", "ndt7 upload", "RPM download",
                                             "RPM upload", "RPM parallel"};

typedef struct {
  hist h[G_N][M_N];
  uint64_t rows[G_N];
  uint32_t *hours; /* tests per hour from base_hour */
  size_t nhours;
  int64_t base_hour;
  uint64_t hour_of_day[24];
  uint64_t undated;
  uint64_t not_records;
  uint64_t first_unix, last_unix;
} report;

static int bin_of(double v) {
  if (!(v > 0)) return 0;
  double b = (log10(v) - LOG_MIN) * BINS_PER_DECADE;
  if (b < 0) return 0;
  if (b >= NBINS) return NBINS - 1;
  return (int)b;
}

static double bin_value(int b, double frac) {
  return pow(10, LOG_MIN + (b + frac) / BINS_PER_DECADE);
}

static void hist_add(hist *h, double v) {
  if (h->n == 0 || v < h->min) h->min = v;
  if (h->n == 0 || v > h->max) h->max = v;
  h->n++;
  h->bins[bin_of(v)]++;
}

/* The value at quantile q (0..1), interpolated inside its bin, clamped to
 * the observed extremes. */
static double hist_quantile(const hist *h, double q) {
  double want = q * (double)h->n, seen = 0;
  for (int b = 0; b < NBINS; b++) {
    if (h->bins[b] == 0) continue;
    if (seen + h->bins[b] >= want) {
      double v = bin_value(b, (want - seen) / h->bins[b]);
      return v < h->min ? h->min : v > h->max ? h->max : v;
    }
    seen += h->bins[b];
  }
  return h->max;
}

static int group_of(const char *datatype, const char *test) {
  int rpm = strcmp(datatype, "ndt7") != 0;
  if (strcmp(test, "download") == 0) return rpm ? G_RPM_DOWN : G_NDT7_DOWN;
  if (strcmp(test, "upload") == 0) return rpm ? G_RPM_UP : G_NDT7_UP;
  return G_RPM_PAR;
}

/* Seconds since the epoch of an RFC 3339 time, or -1. */
static int64_t unix_of(const char *s) {
  struct tm tm = {0};
  const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (!p) return -1;
  int64_t t = (int64_t)timegm(&tm);
  while (*p == '.' || (*p >= '0' && *p <= '9')) p++;
  if ((*p == '+' || *p == '-') && strlen(p) == 6) {
    int64_t off =
        ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 + ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
    t += *p == '+' ? -off : off;
  }
  return t;
}

static void count_hour(report *r, int64_t t) {
  int64_t h = t / 3600;
  r->hour_of_day[(t / 3600) % 24]++;
  if (r->nhours == 0) r->base_hour = h;
  int64_t lo = h < r->base_hour ? h : r->base_hour;
  int64_t hi = h >= r->base_hour + (int64_t)r->nhours ? h + 1 : r->base_hour + (int64_t)r->nhours;
  if (hi - lo > MAX_HOURS) {
    r->undated++;
    return;
  }
  if (lo != r->base_hour || (size_t)(hi - lo) != r->nhours) {
    size_t n = (size_t)(hi - lo);
    uint32_t *nh = calloc(n, sizeof *nh);
    if (!nh) {
      r->undated++;
      return;
    }
    if (r->nhours) memcpy(nh + (r->base_hour - lo), r->hours, r->nhours * sizeof *nh);
    free(r->hours);
    r->hours = nh;
    r->nhours = n;
    r->base_hour = lo;
  }
  r->hours[h - r->base_hour]++;
}

static int on_doc(void *arg, const np_dt_doc *d) {
  report *r = arg;
  np_record_rows rows;
  if (np_record_rows_of(d->text, d->len, d->span, &rows) < 0) {
    fprintf(stderr, "netpulse-data: %s: document %zu is not an ndt7 or responsiveness1 record\n",
            d->path, d->index);
    r->not_records++;
    return 0;
  }
  for (size_t i = 0; i < rows.n; i++) {
    const np_row *row = &rows.rows[i];
    int g = group_of(rows.datatype, row->test);
    r->rows[g]++;
    for (int c = 0; c < NP_NCOLS; c++)
      if (row->has & (1u << c)) hist_add(&r->h[g][c], row->v[c]);
    int64_t t = unix_of(row->start_time);
    if (t < 0) {
      r->undated++;
      continue;
    }
    if (r->first_unix == 0 || (uint64_t)t < r->first_unix) r->first_unix = (uint64_t)t;
    if ((uint64_t)t > r->last_unix) r->last_unix = (uint64_t)t;
    count_hour(r, t);
  }
  return 0;
}

static void on_bad(void *arg, const char *path, const char *why) {
  (void)arg;
  fprintf(stderr, "netpulse-data: %s: %s (skipped)\n", path, why);
}

static void put_num(FILE *f, double v) {
  char num[32];
  np_dt_fmt_num(v, num, sizeof num);
  fputs(num, f);
}

static void put_hist(FILE *f, const hist *h) {
  fprintf(f, "{\"n\":%llu", (unsigned long long)h->n);
  if (h->n) {
    static const double qs[] = {0.1, 0.5, 0.9};
    static const char *const qn[] = {"p10", "median", "p90"};
    for (int i = 0; i < 3; i++) {
      fprintf(f, ",\"%s\":", qn[i]);
      put_num(f, hist_quantile(h, qs[i]));
    }
  }
  fputs(",\"values\":[", f);
  uint64_t k = h->n < MAX_POINTS ? h->n : MAX_POINTS;
  for (uint64_t i = 0; i < k; i++) {
    if (i) putc(',', f);
    put_num(f, hist_quantile(h, ((double)i + 0.5) / (double)k));
  }
  fputs("]}", f);
}

static void put_data(FILE *f, const report *r, const np_dt_stats *st) {
  char when[32] = "";
  time_t now = time(NULL);
  struct tm tm;
  if (gmtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  fprintf(f,
          "{\"generated\":\"%s\",\"files\":%llu,\"records\":%llu,\"badFiles\":%llu,"
          "\"notRecords\":%llu,\"undated\":%llu,\"groups\":[",
          when, (unsigned long long)st->files, (unsigned long long)st->docs,
          (unsigned long long)st->bad_files, (unsigned long long)r->not_records,
          (unsigned long long)r->undated);
  for (int g = 0; g < G_N; g++) {
    fprintf(f, "%s{\"name\":\"%s\",\"rows\":%llu", g ? "," : "", group_names[g],
            (unsigned long long)r->rows[g]);
    for (int m = 0; m < M_N; m++) {
      fprintf(f, ",\"%s\":", metric_names[m]);
      put_hist(f, &r->h[g][m]);
    }
    putc('}', f);
  }
  fprintf(f, "],\"hourStart\":%lld,\"hours\":[", (long long)r->base_hour);
  for (size_t i = 0; i < r->nhours; i++) fprintf(f, "%s%u", i ? "," : "", r->hours[i]);
  fputs("],\"hourOfDay\":[", f);
  for (int i = 0; i < 24; i++)
    fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)r->hour_of_day[i]);
  fputs("]}", f);
}

static const np_static_file *asset(const np_static_file *files, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(files[i].name, name) == 0) return &files[i];
  return NULL;
}

/* An ES module of the test page with its import and export keywords
 * removed, so that it runs inline in the page's one module script (a
 * file:// page cannot import anything). */
static void put_module(FILE *f, const np_static_file *m) {
  const char *p = (const char *)m->data, *end = p + m->len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
    if (n >= 7 && memcmp(p, "import ", 7) == 0) {
      /* dropped: the module it names is inlined too */
    } else if (n >= 7 && memcmp(p, "export ", 7) == 0) {
      fwrite(p + 7, 1, n - 7, f);
    } else {
      fwrite(p, 1, n, f);
    }
    p += n;
  }
  putc('\n', f);
}

/* The template with its markers filled: NP:STYLE (web/style.css), NP:DATA
 * (the binned figures, JSON), NP:SCRIPT (stats.js, charts.js, report.js). */
static int put_page(FILE *f, const report *r, const np_dt_stats *st) {
  const np_static_file *tpl = asset(np_report_files, np_report_files_count, "report.html");
  const np_static_file *js = asset(np_report_files, np_report_files_count, "report.js");
  const np_static_file *css = asset(np_web_assets, np_web_nassets, "style.css");
  const np_static_file *stats = asset(np_web_assets, np_web_nassets, "stats.js");
  const np_static_file *charts = asset(np_web_assets, np_web_nassets, "charts.js");
  if (!tpl || !js || !css || !stats || !charts) return -1;
  const char *p = (const char *)tpl->data, *end = p + tpl->len;
  static const char *const marks[] = {"NP:STYLE", "NP:DATA", "NP:SCRIPT"};
  while (p < end) {
    const char *next = NULL;
    int which = -1;
    for (int i = 0; i < 3; i++) {
      const char *m = memmem(p, (size_t)(end - p), marks[i], strlen(marks[i]));
      if (m && (!next || m < next)) {
        next = m;
        which = i;
      }
    }
    if (!next) {
      fwrite(p, 1, (size_t)(end - p), f);
      break;
    }
    fwrite(p, 1, (size_t)(next - p), f);
    if (which == 0) fwrite(css->data, 1, css->len, f);
    if (which == 1) put_data(f, r, st); /* numbers and fixed names only: no "</" */
    if (which == 2) {
      put_module(f, stats);
      put_module(f, charts);
      put_module(f, js);
    }
    p = next + strlen(marks[which]);
  }
  return 0;
}

int np_dt_report(int argc, char **argv) {
  report *r = calloc(1, sizeof *r);
  if (!r) return NP_DT_IO;
  np_dt_walk_opts o = {NP_DT_DEFAULT_MAX_BYTES, on_doc, on_bad, r, isatty(STDERR_FILENO)};
  int i = np_dt_parse_args("report", argc, argv, &o, NULL, NULL);
  int rc = NP_DT_USAGE;
  if (i >= 0) {
    np_dt_stats st = {0};
    rc = np_dt_walk_run(&o, argv + i, argc - i, &st);
    if (rc == 0) {
      if (put_page(stdout, r, &st) < 0 || fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "netpulse-data report: writing the page failed\n");
        rc = NP_DT_IO;
      } else {
        rc = st.bad_files || r->not_records ? NP_DT_BAD_FILES : NP_DT_OK;
      }
    } else if (rc < 0) {
      rc = NP_DT_IO;
    }
  }
  free(r->hours);
  free(r);
  return rc;
}
