/* conf.c — the "local" (model file, context, threads, runtime check) and "server" (listening,
 * limits, queue size, timeouts, CORS, access log) sections of the configuration file
 * (docs/server.md). Strict like the router's parser: unknown keys and wrong types are errors naming
 * the field. The router ("features") and the cloud engine ("cloud") parse their own sections. */
#include "server/server.h"

#include "core/error.h"
#include "core/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gr_server_config_init(gr_server_config *c) {
    memset(c, 0, sizeof *c);
    c->host = "127.0.0.1";
    c->port = 8080;
    c->runtime_check = true;
    c->max_body_bytes = 4u << 20;
    c->queue_size = 64;
    c->max_connections = 256;
    c->connection_timeout_s = 30;
    c->request_timeout_s = 60;
    c->generation_timeout_s = 600;
    c->max_output_tokens = 8192;
    c->access_log = true;
}

/* Strings copied into one block sized by the document (no string is longer than it). */
typedef struct pool {
    char *p;
    size_t n, cap;
} pool;

static const char *pool_add(pool *pl, const char *s, size_t n) {
    if (pl->n + n + 1 > pl->cap) return NULL;
    char *d = pl->p + pl->n;
    memcpy(d, s, n);
    d[n] = 0;
    pl->n += n + 1;
    return d;
}

typedef struct field {
    const char *name;
    char kind; /* 's' string, 'i' integer, 'n' number, 'b' boolean */
    double lo, hi;
} field;

static const field LOCAL_FIELDS[] = {{"model", 's', 0, 0},
                                     {"id", 's', 0, 0},
                                     {"ctx", 'i', 0, 1 << 22},
                                     {"threads", 'i', 1, 256},
                                     {"max_tokens", 'i', 1, 1 << 24},
                                     {"runtime_check", 'b', 0, 0},
                                     {"expected_tok_s", 'n', 1e-3, 1e9},
                                     {NULL, 0, 0, 0}};

static const field SERVER_FIELDS[] = {{"host", 's', 0, 0},
                                      {"port", 'i', 0, 65535},
                                      {"api_key_env", 's', 0, 0},
                                      {"max_body_bytes", 'i', 1024, 1 << 30},
                                      {"queue_size", 'i', 1, 100000},
                                      {"max_connections", 'i', 1, 10000},
                                      {"connection_timeout_s", 'i', 1, 3600},
                                      {"request_timeout_s", 'n', 0.1, 3600},
                                      {"generation_timeout_s", 'n', 0.1, 86400},
                                      {"max_output_tokens", 'i', 1, 1 << 24},
                                      {"cors_origin", 's', 0, 0},
                                      {"access_log", 'b', 0, 0},
                                      {NULL, 0, 0, 0}};

static gr_status check_field(const char *sec, const field *f, const gr_json_val *v, char *err,
                             size_t errlen) {
    bool ok = f->kind == 's'   ? gr_json_is(v, GR_JSON_STRING)
              : f->kind == 'b' ? gr_json_is(v, GR_JSON_TRUE) || gr_json_is(v, GR_JSON_FALSE)
                               : gr_json_is(v, GR_JSON_NUMBER);
    if (!ok)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "%s.%s: expected a %s, found %s", sec, f->name,
                      f->kind == 's'   ? "string"
                      : f->kind == 'b' ? "boolean"
                                       : "number",
                      gr_json_type_name(gr_json_type_of(v)));
    if (f->kind == 'i' || f->kind == 'n') {
        double d = gr_json_num(v);
        if (f->kind == 'i' && d != floor(d))
            return gr_err(GR_E_INVALID_ARG, err, errlen, "%s.%s: expected an integer", sec,
                          f->name);
        if (!(d >= f->lo && d <= f->hi))
            return gr_err(GR_E_INVALID_ARG, err, errlen, "%s.%s: %g is out of range [%g, %g]", sec,
                          f->name, d, f->lo, f->hi);
    }
    return GR_OK;
}

/* Checks every member of a section against its field table. */
static gr_status check_section(const char *sec, const gr_json_val *o, const field *fields,
                               char *err, size_t errlen) {
    if (!gr_json_is(o, GR_JSON_OBJECT))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "%s: expected an object", sec);
    for (size_t i = 0; i < gr_json_len(o); i++) {
        const gr_json_val *k, *v;
        gr_json_member(o, i, &k, &v);
        const char *key = gr_json_str(k, NULL);
        const field *f = fields;
        while (f->name && strcmp(f->name, key))
            f++;
        if (!f->name) {
            char known[256] = "";
            for (const field *g = fields; g->name; g++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s",
                         g == fields ? "" : ", ", g->name);
            return gr_err(GR_E_INVALID_ARG, err, errlen, "%s.%.40s: unknown key (known: %s)", sec,
                          key, known);
        }
        gr_status s = check_field(sec, f, v, err, errlen);
        if (s) return s;
    }
    return GR_OK;
}

static const char *str(pool *pl, const gr_json_val *o, const char *key, const char *dflt) {
    size_t n;
    const char *s = gr_json_str(gr_json_get(o, key), &n);
    return s ? pool_add(pl, s, n) : dflt;
}

static double num(const gr_json_val *o, const char *key, double dflt) {
    const gr_json_val *v = gr_json_get(o, key);
    return v ? gr_json_num(v) : dflt;
}

static void apply_local(pool *pl, const gr_json_val *o, gr_server_config *c) {
    c->model_path = str(pl, o, "model", c->model_path);
    c->model_id = str(pl, o, "id", c->model_id);
    c->n_ctx = (uint32_t)num(o, "ctx", c->n_ctx);
    c->n_threads = (int)num(o, "threads", c->n_threads);
    c->default_max_tokens = (int)num(o, "max_tokens", c->default_max_tokens);
    c->expected_tok_s = num(o, "expected_tok_s", c->expected_tok_s);
    const gr_json_val *rc = gr_json_get(o, "runtime_check");
    if (rc) c->runtime_check = gr_json_bool(rc);
}

static gr_status apply_server(pool *pl, const gr_json_val *o, gr_server_config *c, char *err,
                              size_t errlen) {
    c->host = str(pl, o, "host", c->host);
    c->port = (int)num(o, "port", c->port);
    c->max_body_bytes = (size_t)num(o, "max_body_bytes", (double)c->max_body_bytes);
    c->queue_size = (size_t)num(o, "queue_size", (double)c->queue_size);
    c->max_connections = (int)num(o, "max_connections", c->max_connections);
    c->connection_timeout_s = (int)num(o, "connection_timeout_s", c->connection_timeout_s);
    c->request_timeout_s = num(o, "request_timeout_s", c->request_timeout_s);
    c->generation_timeout_s = num(o, "generation_timeout_s", c->generation_timeout_s);
    c->max_output_tokens = (int)num(o, "max_output_tokens", c->max_output_tokens);
    c->cors_origin = str(pl, o, "cors_origin", c->cors_origin);
    const gr_json_val *al = gr_json_get(o, "access_log");
    if (al) c->access_log = gr_json_bool(al);
    const char *env = gr_json_str(gr_json_get(o, "api_key_env"), NULL);
    if (env) {
        const char *key = getenv(env);
        if (!key || !*key)
            return gr_err(GR_E_INVALID_ARG, err, errlen,
                          "server.api_key_env: environment variable %.64s is not set", env);
        c->api_key = pool_add(pl, key, strlen(key));
        if (!c->api_key)
            return gr_err(GR_E_INVALID_ARG, err, errlen, "server.api_key_env: key too long");
    }
    return GR_OK;
}

gr_status gr_server_config_parse(const char *json, size_t len, gr_server_config *c, char **owned,
                                 char *err, size_t errlen) {
    if (!json || !c || !owned)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "config: NULL argument");
    *owned = NULL;
    gr_json *doc = NULL;
    char perr[200];
    if (gr_json_parse(json, len, NULL, &doc, perr, sizeof perr))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "config: %s", perr);
    const gr_json_val *root = gr_json_root(doc);
    const gr_json_val *local = gr_json_get(root, "local"), *server = gr_json_get(root, "server");
    gr_status s = gr_json_is(root, GR_JSON_OBJECT)
                      ? GR_OK
                      : gr_err(GR_E_INVALID_ARG, err, errlen, "config: expected a JSON object");
    if (!s && local) s = check_section("local", local, LOCAL_FIELDS, err, errlen);
    if (!s && server) s = check_section("server", server, SERVER_FIELDS, err, errlen);
    pool pl = {malloc(len + 4096), 0, len + 4096};
    if (!s && !pl.p) s = gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    if (!s && local) apply_local(&pl, local, c);
    if (!s && server) s = apply_server(&pl, server, c, err, errlen);
    gr_json_free(doc);
    if (s) {
        free(pl.p);
        return s;
    }
    *owned = pl.p;
    return GR_OK;
}
