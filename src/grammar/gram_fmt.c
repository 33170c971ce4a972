/* gram_fmt.c — string formats for the JSON Schema compiler: date, time, date-time, email, uri,
 * uuid, ipv4. Each grammar generates only strings that src/validate/schema.c's format check accepts
 * (dates use days that exist in every year: 29-30 never in February, 31 only in long months). */
#include "grammar/gram_json.h"
#include "grammar/gram_num.h"

#include <string.h>

static uint32_t cls(gr_gjctx *c, const char *spec) {
    return gr_gram_class(c->g, spec);
}
static uint32_t ch(gr_gjctx *c, char x) {
    return gr_gram_char(c->g, (uint8_t)x);
}
static uint32_t rep(gr_gjctx *c, uint32_t n, uint32_t lo, uint32_t hi) {
    return gr_gram_rep(c->g, n, lo, hi);
}
static uint32_t s2(gr_gjctx *c, uint32_t a, uint32_t b) {
    return gr_gram_seq2(c->g, a, b);
}
static uint32_t a2(gr_gjctx *c, uint32_t a, uint32_t b) {
    return gr_gram_alt2(c->g, a, b);
}

static uint32_t date(gr_gjctx *c) {
    uint32_t d = cls(c, "0-9");
    uint32_t month = a2(c, s2(c, ch(c, '0'), cls(c, "1-9")), s2(c, ch(c, '1'), cls(c, "0-2")));
    uint32_t not_feb = a2(c, s2(c, ch(c, '0'), cls(c, "13-9")), s2(c, ch(c, '1'), cls(c, "0-2")));
    uint32_t long_m = a2(c, s2(c, ch(c, '0'), cls(c, "13578")), s2(c, ch(c, '1'), cls(c, "02")));
    uint32_t day28 =
        gr_gram_alt(c->g,
                    (uint32_t[]){s2(c, ch(c, '0'), cls(c, "1-9")), s2(c, ch(c, '1'), d),
                                 s2(c, ch(c, '2'), cls(c, "0-8"))},
                    3);
    uint32_t dash = ch(c, '-');
    uint32_t md = gr_gram_alt(
        c->g,
        (uint32_t[]){gr_gram_seq3(c->g, month, dash, day28),
                     gr_gram_seq3(c->g, not_feb, dash,
                                  a2(c, gr_gram_lit(c->g, "29", 2), gr_gram_lit(c->g, "30", 2))),
                     gr_gram_seq3(c->g, long_m, dash, gr_gram_lit(c->g, "31", 2))},
        3);
    return gr_gram_seq3(c->g, rep(c, d, 4, 4), dash, md);
}

static uint32_t hour(gr_gjctx *c) {
    return a2(c, s2(c, cls(c, "01"), cls(c, "0-9")), s2(c, ch(c, '2'), cls(c, "0-3")));
}

static uint32_t time_(gr_gjctx *c) {
    uint32_t min = s2(c, cls(c, "0-5"), cls(c, "0-9")), colon = ch(c, ':');
    uint32_t frac = gr_gram_opt(c->g, s2(c, ch(c, '.'), rep(c, cls(c, "0-9"), 1, 6)));
    uint32_t zone =
        a2(c, ch(c, 'Z'), gr_gram_seq(c->g, (uint32_t[]){cls(c, "+-"), hour(c), colon, min}, 4));
    return gr_gram_seq(c->g, (uint32_t[]){hour(c), colon, min, colon, min, frac, zone}, 7);
}

static uint32_t email(gr_gjctx *c) {
    uint32_t atom = rep(c, cls(c, "a-zA-Z0-9_+-"), 1, 16);
    uint32_t local = s2(c, atom, rep(c, s2(c, ch(c, '.'), atom), 0, 2));
    uint32_t label = rep(c, cls(c, "a-zA-Z0-9"), 1, 20);
    uint32_t domain = s2(c, label, rep(c, s2(c, ch(c, '.'), label), 0, 3));
    return gr_gram_seq3(c->g, local, ch(c, '@'), domain);
}

static uint32_t uri(gr_gjctx *c) {
    uint32_t scheme = s2(c, cls(c, "a-zA-Z"), rep(c, cls(c, "a-zA-Z0-9+.-"), 0, 9));
    uint32_t rest = rep(c, cls(c, "a-zA-Z0-9-._~:/?@!$&'()*+,;="), 0, 96);
    return gr_gram_seq3(c->g, scheme, ch(c, ':'), rest);
}

static uint32_t uuid(gr_gjctx *c) {
    uint32_t h = cls(c, "0-9a-f"), dash = ch(c, '-');
    uint32_t k[9] = {rep(c, h, 8, 8), dash, rep(c, h, 4, 4),  dash, rep(c, h, 4, 4), dash,
                     rep(c, h, 4, 4), dash, rep(c, h, 12, 12)};
    return gr_gram_seq(c->g, k, 9);
}

static uint32_t ipv4(gr_gjctx *c) {
    uint32_t oct = gr_gram_uint_range(c->g, 0, 255), dot = ch(c, '.');
    return gr_gram_seq(c->g, (uint32_t[]){oct, dot, oct, dot, oct, dot, oct}, 7);
}

uint32_t gr_gj_format(gr_gjctx *c, const char *name) {
    if (!strcmp(name, "date")) return date(c);
    if (!strcmp(name, "time")) return time_(c);
    if (!strcmp(name, "date-time")) return gr_gram_seq3(c->g, date(c), ch(c, 'T'), time_(c));
    if (!strcmp(name, "email")) return email(c);
    if (!strcmp(name, "uri")) return uri(c);
    if (!strcmp(name, "uuid")) return uuid(c);
    if (!strcmp(name, "ipv4")) return ipv4(c);
    return 0;
}
