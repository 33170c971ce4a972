/* router.c — feature routing from configuration plus runtime flags (see router.h). Must not hold the
 * mutex while doing anything but copying small structs; must not accept a config it does not fully
 * understand (unknown keys are errors, so typos do not silently change routing). */
#include "layer/router.h"

#include "core/error.h"
#include "core/json.h"

#include <pthread.h>
#include <stdio.h>

enum { N_FEATURES = 8 };

typedef enum engine_sel { SEL_LOCAL = 0, SEL_CLOUD, SEL_OFF, SEL_NONE } engine_sel;

typedef struct feature_cfg {
    engine_sel engine;   /* SEL_LOCAL, SEL_CLOUD or SEL_OFF */
    engine_sel fallback; /* SEL_LOCAL, SEL_CLOUD or SEL_NONE */
    gr_output_kind output;
    bool stream;
    bool vision;
} feature_cfg;

static const char *const FEATURE_NAMES[N_FEATURES + 1] = {
    "chat",          "tutoring",        "math-explanation", "socratic-dialogue",
    "quiz-generation", "mermaid-mindmap", "svg-illustration", "handwriting-ocr", NULL};

/* The seed's defaults, in FEATURE_NAMES order. */
static const feature_cfg DEFAULTS[N_FEATURES] = {
    {SEL_LOCAL, SEL_CLOUD, GR_OUTPUT_TEXT, true, false},
    {SEL_LOCAL, SEL_CLOUD, GR_OUTPUT_TEXT, true, false},
    {SEL_LOCAL, SEL_CLOUD, GR_OUTPUT_TEXT, true, false},
    {SEL_LOCAL, SEL_CLOUD, GR_OUTPUT_TEXT, true, false},
    {SEL_CLOUD, SEL_NONE, GR_OUTPUT_JSON, false, false},
    {SEL_CLOUD, SEL_NONE, GR_OUTPUT_MERMAID, false, false},
    {SEL_CLOUD, SEL_NONE, GR_OUTPUT_SVG, false, false},
    {SEL_CLOUD, SEL_NONE, GR_OUTPUT_TEXT, false, true},
};

struct gr_router {
    pthread_mutex_t mu;
    feature_cfg features[N_FEATURES];
    gr_router_state state;
};

const char *gr_route_str(gr_route r) {
    switch (r) {
    case GR_ROUTE_LOCAL: return "local";
    case GR_ROUTE_CLOUD: return "cloud";
    case GR_ROUTE_UNAVAILABLE: return "unavailable";
    }
    return "unknown";
}

const char *const *gr_router_features(void) { return FEATURE_NAMES; }

static int feature_index(const char *name, size_t len) {
    for (int i = 0; i < N_FEATURES; i++)
        if (strlen(FEATURE_NAMES[i]) == len && memcmp(FEATURE_NAMES[i], name, len) == 0) return i;
    return -1;
}

/* ---- configuration parsing --------------------------------------------------------------------- */

/* A printable copy of a JSON key for error messages. */
static void key_text(const gr_json_val *k, char *buf, size_t cap) {
    size_t n;
    const char *s = gr_json_str(k, &n);
    size_t m = n < cap - 1 ? n : cap - 1;
    for (size_t i = 0; i < m; i++) buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    buf[m] = 0;
}

static gr_status want_string(const gr_json_val *v, const char *field, const char **s, char *err, size_t errlen) {
    if (!gr_json_is(v, GR_JSON_STRING))
        return gr_err(GR_E_FORMAT, err, errlen, "%s: expected a string, found %s", field,
                      gr_json_type_name(gr_json_type_of(v)));
    size_t n;
    *s = gr_json_str(v, &n);
    if (strlen(*s) != n) return gr_err(GR_E_FORMAT, err, errlen, "%s: string contains a NUL character", field);
    return GR_OK;
}

static gr_status parse_engine(const gr_json_val *v, const char *field, bool is_fallback, engine_sel *out,
                              char *err, size_t errlen) {
    const char *s;
    gr_status st = want_string(v, field, &s, err, errlen);
    if (st != GR_OK) return st;
    if (!strcmp(s, "local")) *out = SEL_LOCAL;
    else if (!strcmp(s, "cloud")) *out = SEL_CLOUD;
    else if (!is_fallback && !strcmp(s, "off")) *out = SEL_OFF;
    else if (is_fallback && !strcmp(s, "none")) *out = SEL_NONE;
    else
        return gr_err(GR_E_FORMAT, err, errlen, "%s: unknown engine \"%.40s\" (expected %s)", field, s,
                      is_fallback ? "\"local\", \"cloud\" or \"none\"" : "\"local\", \"cloud\" or \"off\"");
    return GR_OK;
}

static gr_status parse_output(const gr_json_val *v, const char *field, gr_output_kind *out, char *err,
                              size_t errlen) {
    const char *s;
    gr_status st = want_string(v, field, &s, err, errlen);
    if (st != GR_OK) return st;
    if (!strcmp(s, "text")) *out = GR_OUTPUT_TEXT;
    else if (!strcmp(s, "json")) *out = GR_OUTPUT_JSON;
    else if (!strcmp(s, "mermaid")) *out = GR_OUTPUT_MERMAID;
    else if (!strcmp(s, "svg")) *out = GR_OUTPUT_SVG;
    else
        return gr_err(GR_E_FORMAT, err, errlen,
                      "%s: unknown output \"%.40s\" (expected \"text\", \"json\", \"mermaid\" or \"svg\")", field, s);
    return GR_OK;
}

static gr_status want_bool(const gr_json_val *v, const char *field, bool *out, char *err, size_t errlen) {
    if (!gr_json_is(v, GR_JSON_TRUE))
        return gr_err(GR_E_FORMAT, err, errlen, "%s: expected true or false, found %s", field,
                      gr_json_type_name(gr_json_type_of(v)));
    *out = gr_json_bool(v);
    return GR_OK;
}

/* One entry of "features": a string (the engine) or an object with engine/fallback/output/stream. */
static gr_status parse_feature(const gr_json_val *v, const char *path, feature_cfg *f, char *err, size_t errlen) {
    char field[160];
    if (gr_json_is(v, GR_JSON_STRING)) {
        snprintf(field, sizeof field, "%s", path);
        gr_status st = parse_engine(v, field, false, &f->engine, err, errlen);
        if (f->fallback == f->engine) f->fallback = SEL_NONE; /* implicit fallback never equals the engine */
        return st;
    }
    if (!gr_json_is(v, GR_JSON_OBJECT))
        return gr_err(GR_E_FORMAT, err, errlen, "%s: expected a string or an object, found %s", path,
                      gr_json_type_name(gr_json_type_of(v)));
    bool explicit_fallback = false;
    for (size_t i = 0; i < gr_json_len(v); i++) {
        const gr_json_val *k, *val;
        gr_json_member(v, i, &k, &val);
        char name[48];
        key_text(k, name, sizeof name);
        snprintf(field, sizeof field, "%s.%s", path, name);
        if (!strcmp(name, "fallback")) explicit_fallback = true;
        gr_status st;
        if (!strcmp(name, "engine")) st = parse_engine(val, field, false, &f->engine, err, errlen);
        else if (!strcmp(name, "fallback")) st = parse_engine(val, field, true, &f->fallback, err, errlen);
        else if (!strcmp(name, "output")) st = parse_output(val, field, &f->output, err, errlen);
        else if (!strcmp(name, "stream")) st = want_bool(val, field, &f->stream, err, errlen);
        else if (!strcmp(name, "vision")) st = want_bool(val, field, &f->vision, err, errlen);
        else
            st = gr_err(GR_E_FORMAT, err, errlen,
                        "%s: unknown key (expected engine, fallback, output, stream, vision)", field);
        if (st != GR_OK) return st;
    }
    if (f->fallback == f->engine) {
        if (explicit_fallback)
            return gr_err(GR_E_FORMAT, err, errlen, "%s.fallback: must differ from the engine", path);
        f->fallback = SEL_NONE;
    }
    return GR_OK;
}

static gr_status parse_features(const gr_json_val *obj, feature_cfg *out, char *err, size_t errlen) {
    if (!gr_json_is(obj, GR_JSON_OBJECT))
        return gr_err(GR_E_FORMAT, err, errlen, "features: expected an object, found %s",
                      gr_json_type_name(gr_json_type_of(obj)));
    for (size_t i = 0; i < gr_json_len(obj); i++) {
        const gr_json_val *k, *val;
        gr_json_member(obj, i, &k, &val);
        size_t kl;
        const char *ks = gr_json_str(k, &kl);
        char name[48], path[64];
        key_text(k, name, sizeof name);
        snprintf(path, sizeof path, "features.%s", name);
        int idx = feature_index(ks, kl);
        if (idx < 0)
            return gr_err(GR_E_FORMAT, err, errlen,
                          "%s: unknown feature (known: chat, tutoring, math-explanation, socratic-dialogue, "
                          "quiz-generation, mermaid-mindmap, svg-illustration, handwriting-ocr)",
                          path);
        gr_status st = parse_feature(val, path, &out[idx], err, errlen);
        if (st != GR_OK) return st;
    }
    return GR_OK;
}

static gr_status parse_config(const char *json, size_t len, feature_cfg *out, char *err, size_t errlen) {
    memcpy(out, DEFAULTS, sizeof DEFAULTS);
    if (!json || !len) return GR_OK;
    gr_json *doc;
    char jerr[200];
    gr_json_limits lim = {.max_depth = 16, .max_bytes = 1 << 20, .max_nodes = 10000};
    gr_status st = gr_json_parse(json, len, &lim, &doc, jerr, sizeof jerr);
    if (st != GR_OK) return gr_err(st, err, errlen, "router config: %s", jerr);
    const gr_json_val *root = gr_json_root(doc);
    if (!gr_json_is(root, GR_JSON_OBJECT)) {
        st = gr_err(GR_E_FORMAT, err, errlen, "router config: expected an object at the top, found %s",
                    gr_json_type_name(gr_json_type_of(root)));
    }
    for (size_t i = 0; st == GR_OK && i < gr_json_len(root); i++) {
        const gr_json_val *k, *val;
        gr_json_member(root, i, &k, &val);
        char name[48];
        key_text(k, name, sizeof name);
        int64_t ver;
        if (!strcmp(name, "features")) {
            st = parse_features(val, out, err, errlen);
        } else if (!strcmp(name, "version")) {
            if (gr_json_int(val, &ver) != GR_OK || ver != 1)
                st = gr_err(GR_E_FORMAT, err, errlen, "version: expected 1");
        } else if (!strcmp(name, "comment")) {
            const char *s;
            st = want_string(val, "comment", &s, err, errlen);
        } else if (!strcmp(name, "cloud") || !strcmp(name, "local") || !strcmp(name, "server")) {
            /* sections of the same file that other modules parse and check (engine_cloud, serve) */
        } else {
            st = gr_err(GR_E_FORMAT, err, errlen,
                        "%s: unknown key (expected version, features, comment, cloud, local, server)", name);
        }
    }
    gr_json_free(doc);
    return st;
}

/* ---- object ------------------------------------------------------------------------------------ */

gr_status gr_router_new(const char *json, size_t len, gr_router **out, char *err, size_t errlen) {
    if (!out) return gr_err(GR_E_INVALID_ARG, err, errlen, "gr_router_new: NULL out");
    *out = NULL;
    feature_cfg f[N_FEATURES];
    gr_status st = parse_config(json, len, f, err, errlen);
    if (st != GR_OK) return st;
    gr_router *r = calloc(1, sizeof *r);
    if (!r) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    pthread_mutex_init(&r->mu, NULL);
    memcpy(r->features, f, sizeof f);
    r->state.cloud_reachable = true;
    *out = r;
    return GR_OK;
}

gr_status gr_router_new_file(const char *path, gr_router **out, char *err, size_t errlen) {
    if (out) *out = NULL;
    if (!path || !out) return gr_err(GR_E_INVALID_ARG, err, errlen, "gr_router_new_file: NULL argument");
    FILE *fp = fopen(path, "rb");
    if (!fp) return gr_err(GR_E_IO, err, errlen, "%s: cannot open", path);
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(fp);
        return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    }
    n = fread(buf, 1, cap + 1, fp);
    bool bad = ferror(fp);
    fclose(fp);
    gr_status st;
    if (bad) st = gr_err(GR_E_IO, err, errlen, "%s: read error", path);
    else if (n > cap) st = gr_err(GR_E_FORMAT, err, errlen, "%s: larger than 1 MiB", path);
    else {
        char msg[256];
        st = gr_router_new(buf, n, out, msg, sizeof msg);
        if (st != GR_OK) gr_err(st, err, errlen, "%s: %s", path, msg);
    }
    free(buf);
    return st;
}

void gr_router_free(gr_router *r) {
    if (!r) return;
    pthread_mutex_destroy(&r->mu);
    free(r);
}

gr_status gr_router_reload(gr_router *r, const char *json, size_t len, char *err, size_t errlen) {
    if (!r) return gr_err(GR_E_INVALID_ARG, err, errlen, "gr_router_reload: NULL router");
    feature_cfg f[N_FEATURES];
    gr_status st = parse_config(json, len, f, err, errlen);
    if (st != GR_OK) return st;
    pthread_mutex_lock(&r->mu);
    memcpy(r->features, f, sizeof f);
    pthread_mutex_unlock(&r->mu);
    return GR_OK;
}

void gr_router_set_local_loaded(gr_router *r, bool loaded) {
    pthread_mutex_lock(&r->mu);
    r->state.local_loaded = loaded;
    pthread_mutex_unlock(&r->mu);
}

void gr_router_set_local_degraded(gr_router *r, bool degraded, const char *why) {
    pthread_mutex_lock(&r->mu);
    r->state.local_degraded = degraded;
    snprintf(r->state.degraded_reason, sizeof r->state.degraded_reason, "%s",
             degraded ? (why && *why ? why : "runtime check failed") : "");
    pthread_mutex_unlock(&r->mu);
}

void gr_router_set_cloud(gr_router *r, bool configured, bool reachable) {
    pthread_mutex_lock(&r->mu);
    r->state.cloud_configured = configured;
    r->state.cloud_reachable = reachable;
    pthread_mutex_unlock(&r->mu);
}

void gr_router_state_get(gr_router *r, gr_router_state *st) {
    pthread_mutex_lock(&r->mu);
    *st = r->state;
    pthread_mutex_unlock(&r->mu);
}

/* ---- resolution -------------------------------------------------------------------------------- */

/* Why an engine cannot serve right now; NULL when it can. */
static const char *unusable(engine_sel e, const gr_router_state *s, char *buf, size_t cap) {
    if (e == SEL_LOCAL) {
        if (!s->local_loaded) return "no local model is loaded";
        if (s->local_degraded) {
            snprintf(buf, cap, "the local engine is degraded (%.90s)", s->degraded_reason);
            return buf;
        }
        return NULL;
    }
    if (!s->cloud_configured) return "the cloud is not configured";
    if (!s->cloud_reachable) return "the cloud is unreachable";
    return NULL;
}

static gr_route to_route(engine_sel e) { return e == SEL_LOCAL ? GR_ROUTE_LOCAL : GR_ROUTE_CLOUD; }
static const char *sel_name(engine_sel e) { return e == SEL_LOCAL ? "local" : "cloud"; }

gr_route gr_router_route(gr_router *r, const char *feature, gr_route_decision *d) {
    memset(d, 0, sizeof *d);
    d->route = d->alternative = GR_ROUTE_UNAVAILABLE;
    int idx = feature ? feature_index(feature, strlen(feature)) : -1;
    if (!r || idx < 0) {
        snprintf(d->reason, sizeof d->reason, "unknown feature \"%.64s\"", feature ? feature : "(null)");
        return d->route;
    }
    pthread_mutex_lock(&r->mu);
    feature_cfg f = r->features[idx];
    gr_router_state s = r->state;
    pthread_mutex_unlock(&r->mu);
    d->output = f.output;
    d->stream = f.stream;
    d->vision = f.vision;
    const char *fn = FEATURE_NAMES[idx];
    if (f.engine == SEL_OFF) {
        snprintf(d->reason, sizeof d->reason, "%s: disabled by configuration", fn);
        return d->route;
    }
    char b1[128], b2[128];
    const char *why = unusable(f.engine, &s, b1, sizeof b1);
    if (!why) {
        d->route = to_route(f.engine);
        if (f.fallback != SEL_NONE && !unusable(f.fallback, &s, b2, sizeof b2))
            d->alternative = to_route(f.fallback);
        snprintf(d->reason, sizeof d->reason, "%s: configured %s", fn, sel_name(f.engine));
        return d->route;
    }
    if (f.fallback == SEL_NONE) {
        snprintf(d->reason, sizeof d->reason, "%s: configured %s, but %.120s; no fallback", fn, sel_name(f.engine), why);
        return d->route;
    }
    const char *why2 = unusable(f.fallback, &s, b2, sizeof b2);
    if (!why2) {
        d->route = to_route(f.fallback);
        d->fallback = true;
        snprintf(d->reason, sizeof d->reason, "%s: configured %s, but %.120s; falling back to %s", fn,
                 sel_name(f.engine), why, sel_name(f.fallback));
        return d->route;
    }
    snprintf(d->reason, sizeof d->reason, "%s: configured %s, but %.80s; fallback %s: %.60s", fn, sel_name(f.engine),
             why, sel_name(f.fallback), why2);
    return d->route;
}

bool gr_route_should_fall_back(gr_status s) {
    switch (s) {
    case GR_E_CONTEXT_FULL:
    case GR_E_UNSUPPORTED:
    case GR_E_INVALID_OUTPUT:
    case GR_E_NETWORK:
    case GR_E_AUTH:
    case GR_E_RATE_LIMITED:
    case GR_E_UPSTREAM:
    case GR_E_UNAVAILABLE:
    case GR_E_ABORTED:
        return true;
    default:
        return false;
    }
}
