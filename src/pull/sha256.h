/* sha256.h — SHA-256 (FIPS 180-4) for verifying downloaded models. A portable implementation plus
 * one on the x86 SHA extensions (SHA-NI), chosen at run time, because hashing runs inline with the
 * download and must keep up with a fast link (~2 GB/s with SHA-NI vs ~0.3 GB/s portable).
 * It must not allocate or keep global mutable state beyond the one-time CPU check.
 * Thread safety: a context is used by one thread at a time; the functions are reentrant. */
#ifndef GR_PULL_SHA256_H
#define GR_PULL_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GR_SHA256_HEX_LEN 64

typedef struct gr_sha256 {
    uint32_t h[8];
    uint64_t n_bytes; /* bytes hashed so far */
    uint8_t buf[64];  /* a partial block */
    size_t buf_len;
    bool portable; /* force the portable block function (tests compare both) */
} gr_sha256;

void gr_sha256_init(gr_sha256 *c);
void gr_sha256_update(gr_sha256 *c, const void *data, size_t len);
void gr_sha256_final(gr_sha256 *c, uint8_t out[32]);
/* Lowercase hex digest into hex[65] (NUL-terminated); the context is finished afterwards. */
void gr_sha256_final_hex(gr_sha256 *c, char hex[GR_SHA256_HEX_LEN + 1]);
/* One call: hash of data[0..len) as hex. */
void gr_sha256_hex(const void *data, size_t len, char hex[GR_SHA256_HEX_LEN + 1]);
/* True when this CPU has the SHA extensions (and they are used unless c->portable). */
bool gr_sha256_accelerated(void);
/* True for exactly 64 hex digits (either case). */
bool gr_sha256_is_hex(const char *s, size_t len);

#endif
