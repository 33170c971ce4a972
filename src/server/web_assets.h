/* web_assets.h — the web page's files (web/ in the source tree), compiled into the binary so
 * `gemrun serve` needs nothing on disk. The table is generated at build time by cmake/embed_web.cmake
 * (web_assets.c in the build directory). */
#ifndef GR_SERVER_WEB_ASSETS_H
#define GR_SERVER_WEB_ASSETS_H

#include <stddef.h>

typedef struct gr_web_asset {
    const char *path; /* "/index.html", "/app.js", ... */
    const char *mime; /* "text/html; charset=utf-8", ... */
    const unsigned char *data;
    size_t len;
} gr_web_asset;

/* The asset for a request path ("/" means "/index.html"); NULL when there is none. */
const gr_web_asset *gr_web_asset_find(const char *path);

#endif
