/* The report page's template and script, embedded at build time from
 * src/datatool/report.html and report.js (cmake/embed_files.cmake). */
#ifndef NP_DATATOOL_REPORT_H
#define NP_DATATOOL_REPORT_H

#include <stddef.h>

#include "http/static.h"

extern const np_static_file np_report_files[];
extern const size_t np_report_files_count;

#endif
