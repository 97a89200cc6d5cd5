/* Checks a record against its datatype's BigQuery schema (schemas/<datatype>.json,
 * embedded at build time by cmake/embed_files.cmake, so the checker reads
 * the very files M-Lab loads) plus what a BigQuery schema cannot say:
 * required fields and units in range (rules in record_schema.c, kept in
 * step with the schemas by tests/unit/test_record_schema.c). */
#ifndef NP_DATA_RECORD_SCHEMA_H
#define NP_DATA_RECORD_SCHEMA_H

#include <jansson.h>
#include <stddef.h>

#include "http/static.h"

/* The embedded schemas, named "<datatype>.json" (generated source). */
extern const np_static_file np_schema_files[];
extern const size_t np_schema_files_count;

typedef struct np_schema np_schema;

/* Compiles the BigQuery schema text (a JSON array of fields) for datatype.
 * 0 and *ret (free with np_schema_free), NP_E_JSON, -ENOMEM. */
int np_schema_compile(const char *datatype, const char *text, size_t len, np_schema **ret);
void np_schema_free(np_schema *s);

/* The embedded schema of datatype, compiled; NULL when there is none. */
int np_schema_embedded(const char *datatype, np_schema **ret);

/* 0 when rec fits the schema and the rules; otherwise NP_E_JSON and the
 * first problem in why ("$.Download.UUID: ..."). */
int np_schema_check(const np_schema *s, const json_t *rec, char *why, size_t cap);

/* Whether the dotted path (e.g. "ClientSummary.Download.RPM") names a
 * field of the schema; for the tests that keep the rules in step. */
int np_schema_has(const np_schema *s, const char *path);

/* The rules beyond the schema, exposed for those tests: the i-th name a
 * range rule applies to exactly (NULL past the last), and the required
 * paths ("<Test>" standing for Download or Upload; NULL-terminated). */
const char *np_schema_rule_name(size_t i);
const char *const *np_schema_required(const char *datatype);

#endif
