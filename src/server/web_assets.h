/* The files of the test page and the privacy policy, embedded in
 * netpulse-server at build time (cmake/embed_web.cmake generates the
 * definitions from web/ and docs/privacy.md). */
#ifndef NP_SERVER_WEB_ASSETS_H
#define NP_SERVER_WEB_ASSETS_H

#include <stddef.h>

#include "http/static.h"

/* Sorted by name; np_web_nassets entries (the array may hold one unused
 * entry when web/ is empty). */
extern const np_static_file np_web_assets[];
extern const size_t np_web_nassets;
/* docs/privacy.md. */
extern const np_static_file np_web_privacy;

#endif
