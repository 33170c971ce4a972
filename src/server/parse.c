/* parse.c — request bodies of the Gemini API (GenerateContentRequest, countTokens) and OpenAI Chat
 * Completions into a gr_request, and model paths out of URLs. Strict about types and ranges (every
 * error names the field), lenient about casing (camelCase and snake_case, as Google's protobuf
 * JSON parser is) and about fields a local server can ignore (safetySettings, cachedContent,
 * penalties). It must not route, allocate per token, or trust any length: fuzz/fuzz_server.c. */
#include "server/srv.h"

#include "core/error.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- small helpers -----------------------------------------------------------------------------
 */

/* Member by camelCase or snake_case name. */
static const gr_json_val *get2(const gr_json_val *o, const char *camel, const char *snake) {
    const gr_json_val *v = gr_json_get(o, camel);
    return v ? v : (snake ? gr_json_get(o, snake) : NULL);
}

static char *own(srv_gen *g, char *s) {
    if (!s) return NULL;
    if (g->n_owned == g->cap_owned) {
        size_t cap = g->cap_owned ? g->cap_owned * 2 : 16;
        char **t = realloc(g->owned, cap * sizeof *t);
        if (!t) {
            free(s);
            return NULL;
        }
        g->owned = t, g->cap_owned = cap;
    }
    g->owned[g->n_owned++] = s;
    return s;
}

static gr_status add_msg_images(srv_gen *g, gr_chat_role role, const char *text,
                                const gr_image *images, size_t n_images, char *err, size_t errlen) {
    if (g->n_msgs >= SRV_MAX_MESSAGES)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "too many messages (at most %d)",
                      SRV_MAX_MESSAGES);
    gr_message *m = realloc(g->msgs, (g->n_msgs + 1) * sizeof *m);
    if (!m) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    g->msgs = m;
    g->msgs[g->n_msgs++] = (gr_message){role, text, n_images ? images : NULL, n_images};
    return GR_OK;
}

static gr_status add_msg(srv_gen *g, gr_chat_role role, const char *text, char *err,
                         size_t errlen) {
    return add_msg_images(g, role, text, NULL, 0, err, errlen);
}

/* ---- images ------------------------------------------------------------------------------------
 * Image parts arrive base64-encoded (Gemini inlineData, OpenAI data: URLs) and are passed on as
 * they are; here they are only checked: a known image type, valid base64, and bytes that start the
 * way that type does (a mislabelled or truncated upload is refused here, not by the cloud). */

typedef struct img_list {
    gr_image *v;
    size_t n;
} img_list;

static const char *const IMAGE_TYPES[] = {"image/png", "image/jpeg", "image/webp", "image/heic",
                                          "image/heif", "image/gif"};

static int b64_val(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* Valid base64 (standard or URL-safe alphabet, padding optional); the first bytes into head. */
static bool b64_check(const char *s, size_t n, unsigned char *head, size_t head_cap, size_t *head_n) {
    while (n && s[n - 1] == '=') n--;
    if (n % 4 == 1) return false;
    uint32_t acc = 0;
    int bits = 0;
    *head_n = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val(s[i]);
        if (v < 0) return false;
        acc = (acc << 6) | (uint32_t)v, bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (*head_n < head_cap) head[(*head_n)++] = (unsigned char)(acc >> bits);
        }
    }
    return true;
}

static bool magic_ok(const char *mime, const unsigned char *h, size_t n) {
    if (!strcmp(mime, "image/png")) return n >= 8 && !memcmp(h, "\x89PNG\r\n\x1a\n", 8);
    if (!strcmp(mime, "image/jpeg")) return n >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF;
    if (!strcmp(mime, "image/webp")) return n >= 12 && !memcmp(h, "RIFF", 4) && !memcmp(h + 8, "WEBP", 4);
    if (!strcmp(mime, "image/gif")) return n >= 6 && (!memcmp(h, "GIF87a", 6) || !memcmp(h, "GIF89a", 6));
    return n >= 12 && !memcmp(h + 4, "ftyp", 4); /* HEIC / HEIF: an ISO-BMFF box */
}

/* Check one image and append it to the message's list (the list is owned by the request). */
static gr_status add_image(srv_gen *g, img_list *l, const char *mime, const char *data, size_t n,
                           const char *field, char *err, size_t errlen) {
    bool known = false;
    for (size_t i = 0; mime && i < sizeof IMAGE_TYPES / sizeof *IMAGE_TYPES; i++)
        known |= !strcmp(mime, IMAGE_TYPES[i]);
    if (!known)
        return gr_err(GR_E_INVALID_ARG, err, errlen,
                      "%s: mime type \"%.40s\" is not supported (images only: png, jpeg, webp, "
                      "heic, heif, gif)", field, mime ? mime : "");
    unsigned char head[16];
    size_t hn;
    if (!data || !n || strlen(data) != n || !b64_check(data, n, head, sizeof head, &hn))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "%s: data is not valid base64", field);
    if (!magic_ok(mime, head, hn))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "%s: the bytes are not a %s image", field,
                      mime + 6);
    if (l->n >= SRV_MAX_IMAGES)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "%s: at most %d images per message", field,
                      SRV_MAX_IMAGES);
    if (!l->v) {
        l->v = calloc(SRV_MAX_IMAGES, sizeof *l->v);
        if (!l->v || !own(g, (char *)l->v)) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    }
    l->v[l->n++] = (gr_image){mime, data};
    return GR_OK;
}

/* Text pieces joined by sep into one owned string. */
typedef struct joiner {
    char *p;
    size_t n, cap;
    int count;
    bool oom;
} joiner;

static void join_add(joiner *j, const char *s, size_t n, const char *sep) {
    size_t sl = j->count ? strlen(sep) : 0;
    if (j->oom) return;
    if (j->n + sl + n + 1 > j->cap) {
        size_t cap = (j->n + sl + n + 1) * 2;
        char *t = realloc(j->p, cap);
        if (!t) {
            j->oom = true;
            return;
        }
        j->p = t, j->cap = cap;
    }
    memcpy(j->p + j->n, sep, sl);
    memcpy(j->p + j->n + sl, s, n);
    j->n += sl + n;
    j->p[j->n] = 0;
    j->count++;
}

static gr_status num_in(const gr_json_val *v, const char *field, double lo, double hi, double *out,
                        char *err, size_t errlen) {
    if (!gr_json_is(v, GR_JSON_NUMBER))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "%s: expected a number, found %s", field,
                      gr_json_type_name(gr_json_type_of(v)));
    double d = gr_json_num(v);
    if (!(d >= lo && d <= hi))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "%s: %g is out of range [%g, %g]", field, d,
                      lo, hi);
    *out = d;
    return GR_OK;
}

static gr_status int_in(const gr_json_val *v, const char *field, int64_t lo, int64_t hi,
                        int64_t *out, char *err, size_t errlen) {
    int64_t x;
    /* some clients send 5.0 for an integer: accept an integral double too */
    if (gr_json_int(v, &x) != GR_OK) {
        double d = gr_json_num(v);
        if (!gr_json_is(v, GR_JSON_NUMBER) || d != floor(d) || fabs(d) > 9e15)
            return gr_err(GR_E_INVALID_ARG, err, errlen, "%s: expected an integer", field);
        x = (int64_t)d;
    }
    if (x < lo || x > hi)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "%s: %lld is out of range [%lld, %lld]", field,
                      (long long)x, (long long)lo, (long long)hi);
    *out = x;
    return GR_OK;
}

static gr_status parse_doc(const char *body, size_t len, srv_gen *g, char *err, size_t errlen) {
    memset(g, 0, sizeof *g);
    g->req.sampling.temperature = -1;
    gr_json_limits lim = {.max_depth = 64, .max_bytes = len + 1, .max_nodes = 1u << 20};
    char perr[200];
    if (gr_json_parse(body, len, &lim, &g->doc, perr, sizeof perr) != GR_OK)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "invalid JSON payload: %s", perr);
    if (!gr_json_is(gr_json_root(g->doc), GR_JSON_OBJECT))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "the request body must be a JSON object");
    return GR_OK;
}

/* Attach messages and stops to the request. */
static void finish_req(srv_gen *g) {
    g->req.messages = g->msgs;
    g->req.n_messages = g->n_msgs;
    g->req.stop = g->stops;
    g->req.n_stop = g->n_stops;
}

void srv_gen_free(srv_gen *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n_owned; i++)
        free(g->owned[i]);
    free(g->owned);
    free(g->msgs);
    free(g->stops);
    gr_json_free(g->doc);
    memset(g, 0, sizeof *g);
}

static gr_status add_stop(srv_gen *g, const gr_json_val *v, const char *field, char *err,
                          size_t errlen) {
    size_t n;
    const char *s = gr_json_str(v, &n);
    if (!s) return gr_err(GR_E_INVALID_ARG, err, errlen, "%s: expected a string", field);
    if (!n || n > 256 || strlen(s) != n)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "%s: must be 1..256 bytes without NUL", field);
    if (g->n_stops >= SRV_MAX_STOPS)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "%s: at most %d stop sequences", field,
                      SRV_MAX_STOPS);
    const char **t = realloc(g->stops, (g->n_stops + 1) * sizeof *t);
    if (!t) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    g->stops = t;
    g->stops[g->n_stops++] = s;
    return GR_OK;
}

/* ---- Gemini ------------------------------------------------------------------------------------
 */

/* Text of a Content's parts, joined without separator (parts of one turn are one text). */
static gr_status content_text(srv_gen *g, const gr_json_val *content, const char *field,
                              const char **out, img_list *imgs, char *err, size_t errlen) {
    if (!gr_json_is(content, GR_JSON_OBJECT))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "%s: expected an object", field);
    const gr_json_val *parts = gr_json_get(content, "parts");
    if (!parts) return gr_err(GR_E_INVALID_ARG, err, errlen, "%s.parts: required", field);
    bool single = gr_json_is(parts, GR_JSON_OBJECT); /* Google's docs show a bare object too */
    if (!single && !gr_json_is(parts, GR_JSON_ARRAY))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "%s.parts: expected an array", field);
    joiner j = {0};
    size_t np = single ? 1 : gr_json_len(parts);
    gr_status s = GR_OK;
    for (size_t i = 0; i < np && !s; i++) {
        const gr_json_val *p = single ? parts : gr_json_at(parts, i);
        if (!gr_json_is(p, GR_JSON_OBJECT)) {
            s = gr_err(GR_E_INVALID_ARG, err, errlen, "%s.parts[%zu]: expected an object", field,
                       i);
            break;
        }
        if (gr_json_bool(gr_json_get(p, "thought"))) continue; /* earlier reasoning: not resent */
        const gr_json_val *t = gr_json_get(p, "text");
        size_t n;
        const char *txt = gr_json_str(t, &n);
        if (txt && strlen(txt) == n) {
            join_add(&j, txt, n, "");
        } else if (t) {
            s = gr_err(GR_E_INVALID_ARG, err, errlen,
                       "%s.parts[%zu].text: expected a string without NUL", field, i);
        } else if (get2(p, "inlineData", "inline_data")) {
            const gr_json_val *d = get2(p, "inlineData", "inline_data");
            char pf[112];
            snprintf(pf, sizeof pf, "%.60s.parts[%zu].inlineData", field, i);
            size_t dn = 0;
            const char *data = gr_json_str(gr_json_get(d, "data"), &dn);
            s = imgs ? add_image(g, imgs, gr_json_str(get2(d, "mimeType", "mime_type"), NULL), data,
                                 dn, pf, err, errlen)
                     : gr_err(GR_E_INVALID_ARG, err, errlen, "%s: images are not allowed here", pf);
        } else if (get2(p, "fileData", "file_data")) {
            s = gr_err(GR_E_INVALID_ARG, err, errlen,
                       "%s.parts[%zu].fileData: files and URLs are not fetched; send the image "
                       "inline (inlineData with base64 data)", field, i);
        } else if (gr_json_get(p, "thoughtSignature") || gr_json_get(p, "thought_signature")) {
            continue;
        } else {
            s = gr_err(GR_E_INVALID_ARG, err, errlen,
                       "%s.parts[%zu]: unsupported part (only text parts are supported)", field, i);
        }
    }
    if (j.oom) s = gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    if (s) {
        free(j.p);
        return s;
    }
    *out = j.p ? own(g, j.p) : "";
    return *out ? GR_OK : gr_err(GR_E_NOMEM, err, errlen, "out of memory");
}

static gr_status gemini_contents(srv_gen *g, const gr_json_val *root, char *err, size_t errlen) {
    const gr_json_val *sys = get2(root, "systemInstruction", "system_instruction");
    if (sys && !gr_json_is(sys, GR_JSON_NULL)) {
        const char *t;
        gr_status s = gr_json_is(sys, GR_JSON_STRING)
                          ? (t = gr_json_str(sys, NULL), GR_OK)
                          : content_text(g, sys, "systemInstruction", &t, NULL, err, errlen);
        if (!s && *t) s = add_msg(g, GR_ROLE_SYSTEM, t, err, errlen);
        if (s) return s;
    }
    const gr_json_val *c = gr_json_get(root, "contents");
    if (!c) return gr_err(GR_E_INVALID_ARG, err, errlen, "contents: required");
    bool single = gr_json_is(c, GR_JSON_OBJECT);
    if (!single && !gr_json_is(c, GR_JSON_ARRAY))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "contents: expected an array of Content");
    size_t n = single ? 1 : gr_json_len(c);
    if (!n) return gr_err(GR_E_INVALID_ARG, err, errlen, "contents: must not be empty");
    for (size_t i = 0; i < n; i++) {
        const gr_json_val *ct = single ? c : gr_json_at(c, i);
        char field[48];
        snprintf(field, sizeof field, "contents[%zu]", i);
        const gr_json_val *role = gr_json_get(ct, "role");
        const char *rs = gr_json_str(role, NULL);
        gr_chat_role r = GR_ROLE_USER;
        if (role && !gr_json_is(role, GR_JSON_NULL)) {
            if (!rs)
                return gr_err(GR_E_INVALID_ARG, err, errlen, "%s.role: expected a string", field);
            if (!strcmp(rs, "model"))
                r = GR_ROLE_MODEL;
            else if (strcmp(rs, "user") && *rs)
                return gr_err(GR_E_INVALID_ARG, err, errlen,
                              "%s.role: \"%.32s\" is not \"user\" or \"model\"", field, rs);
        }
        const char *t;
        img_list imgs = {0};
        gr_status s = content_text(g, ct, field, &t, &imgs, err, errlen);
        if (!s) s = add_msg_images(g, r, t, imgs.v, imgs.n, err, errlen);
        if (s) return s;
    }
    if (g->msgs[g->n_msgs - 1].role == GR_ROLE_SYSTEM)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "contents: must not be empty");
    return GR_OK;
}

/* Gemini's OpenAPI-subset Schema ("type": "OBJECT", "nullable": true, "propertyOrdering") written
 * as JSON Schema for the validator. */
static void schema_to_json_schema(gr_jw *w, const gr_json_val *v, int depth) {
    if (depth > 48 || !gr_json_is(v, GR_JSON_OBJECT)) {
        gr_jw_value(w, v);
        return;
    }
    bool nullable = gr_json_bool(gr_json_get(v, "nullable"));
    gr_jw_obj(w);
    for (size_t i = 0; i < gr_json_len(v); i++) {
        const gr_json_val *k, *val;
        gr_json_member(v, i, &k, &val);
        size_t kl;
        const char *key = gr_json_str(k, &kl);
        if (!strcmp(key, "nullable") || !strcmp(key, "propertyOrdering") ||
            !strcmp(key, "property_ordering") || !strcmp(key, "example"))
            continue;
        gr_jw_keyn(w, key, kl);
        if (!strcmp(key, "type") && gr_json_is(val, GR_JSON_STRING)) {
            char low[32];
            size_t n = 0;
            for (const char *p = gr_json_str(val, NULL); *p && n + 1 < sizeof low; p++)
                low[n++] = (char)tolower((unsigned char)*p);
            low[n] = 0;
            if (nullable) {
                gr_jw_arr(w);
                gr_jw_str(w, low);
                gr_jw_str(w, "null");
                gr_jw_end(w);
            } else {
                gr_jw_str(w, low);
            }
        } else if (!strcmp(key, "properties") && gr_json_is(val, GR_JSON_OBJECT)) {
            gr_jw_obj(w);
            for (size_t j = 0; j < gr_json_len(val); j++) {
                const gr_json_val *pk, *pv;
                gr_json_member(val, j, &pk, &pv);
                size_t pl;
                const char *ps = gr_json_str(pk, &pl);
                gr_jw_keyn(w, ps, pl);
                schema_to_json_schema(w, pv, depth + 1);
            }
            gr_jw_end(w);
        } else if ((!strcmp(key, "anyOf") || !strcmp(key, "any_of")) &&
                   gr_json_is(val, GR_JSON_ARRAY)) {
            gr_jw_arr(w);
            for (size_t j = 0; j < gr_json_len(val); j++)
                schema_to_json_schema(w, gr_json_at(val, j), depth + 1);
            gr_jw_end(w);
        } else if (!strcmp(key, "items")) {
            schema_to_json_schema(w, val, depth + 1);
        } else {
            gr_jw_value(w, val);
        }
    }
    gr_jw_end(w);
}

static gr_status schema_text(srv_gen *g, const gr_json_val *schema, bool gemini_schema,
                             const char *field, char *err, size_t errlen) {
    if (!gr_json_is(schema, GR_JSON_OBJECT) && !gr_json_is(schema, GR_JSON_TRUE))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "%s: expected a schema object", field);
    gr_jw w;
    gr_jw_init(&w);
    if (gemini_schema)
        schema_to_json_schema(&w, schema, 0);
    else
        gr_jw_value(&w, schema);
    char *t = gr_jw_take(&w, NULL);
    gr_jw_free(&w);
    if (!t || !own(g, t)) return gr_err(GR_E_NOMEM, err, errlen, "%s: cannot write schema", field);
    g->req.output = (gr_output_constraint){GR_OUTPUT_JSON_SCHEMA, t};
    g->has_format = true;
    return GR_OK;
}

static gr_status gemini_output(srv_gen *g, const gr_json_val *gc, char *err, size_t errlen) {
    const gr_json_val *mime = get2(gc, "responseMimeType", "response_mime_type");
    const gr_json_val *rs = get2(gc, "responseSchema", "response_schema");
    const gr_json_val *rjs = get2(gc, "responseJsonSchema", "response_json_schema");
    const char *m = mime ? gr_json_str(mime, NULL) : "text/plain";
    if (!m)
        return gr_err(GR_E_INVALID_ARG, err, errlen,
                      "generationConfig.responseMimeType: expected a string");
    bool json = !strcmp(m, "application/json");
    if (!json && strcmp(m, "text/plain"))
        return gr_err(GR_E_INVALID_ARG, err, errlen,
                      "generationConfig.responseMimeType: \"%.40s\" is not supported (text/plain "
                      "or application/json)",
                      m);
    if (rs && rjs)
        return gr_err(
            GR_E_INVALID_ARG, err, errlen,
            "generationConfig: responseSchema and responseJsonSchema are mutually exclusive");
    if ((rs || rjs) && !json)
        return gr_err(
            GR_E_INVALID_ARG, err, errlen,
            "generationConfig: a response schema needs responseMimeType \"application/json\"");
    if (rjs) return schema_text(g, rjs, false, "generationConfig.responseJsonSchema", err, errlen);
    if (rs) return schema_text(g, rs, true, "generationConfig.responseSchema", err, errlen);
    if (json) {
        g->req.output.kind = GR_OUTPUT_JSON;
        g->has_format = true;
    }
    return GR_OK;
}

static gr_status gemini_config(srv_gen *g, const gr_json_val *gc, char *err, size_t errlen) {
    if (!gc || gr_json_is(gc, GR_JSON_NULL)) return GR_OK;
    if (!gr_json_is(gc, GR_JSON_OBJECT))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "generationConfig: expected an object");
    const gr_json_val *v;
    double d;
    int64_t x;
    gr_status s = GR_OK;
    gr_sampling *sp = &g->req.sampling;
    if (!s && (v = gr_json_get(gc, "temperature")))
        if (!(s = num_in(v, "generationConfig.temperature", 0, 2, &d, err, errlen)))
            sp->temperature = (float)d;
    if (!s && (v = get2(gc, "topP", "top_p")))
        if (!(s = num_in(v, "generationConfig.topP", 0, 1, &d, err, errlen))) sp->top_p = (float)d;
    if (!s && (v = get2(gc, "topK", "top_k")))
        if (!(s = int_in(v, "generationConfig.topK", 0, 1000000, &x, err, errlen)))
            sp->top_k = (int)x;
    if (!s && (v = gr_json_get(gc, "seed")))
        if (!(s = int_in(v, "generationConfig.seed", INT64_MIN / 2, INT64_MAX / 2, &x, err,
                         errlen)))
            sp->seed =
                x ? (uint64_t)x : 0x9e3779b97f4a7c15ull; /* 0 is a seed too, not "pick one" */
    if (!s && (v = get2(gc, "maxOutputTokens", "max_output_tokens")))
        if (!(s = int_in(v, "generationConfig.maxOutputTokens", 1, 1 << 24, &x, err, errlen)))
            g->req.max_tokens = (int)x;
    if (!s && (v = get2(gc, "candidateCount", "candidate_count")))
        if (!(s = int_in(v, "generationConfig.candidateCount", 1, 1, &x, err, errlen))) {
        }
    if (!s && (v = get2(gc, "stopSequences", "stop_sequences"))) {
        if (!gr_json_is(v, GR_JSON_ARRAY))
            s = gr_err(GR_E_INVALID_ARG, err, errlen,
                       "generationConfig.stopSequences: expected an array of strings");
        for (size_t i = 0; !s && i < gr_json_len(v); i++)
            s = add_stop(g, gr_json_at(v, i), "generationConfig.stopSequences", err, errlen);
    }
    if (!s) s = gemini_output(g, gc, err, errlen);
    return s;
}

static gr_status gemini_body(srv_gen *g, const gr_json_val *root, char *err, size_t errlen) {
    const gr_json_val *tools = gr_json_get(root, "tools");
    if (gr_json_len(tools) > 0)
        return gr_err(
            GR_E_INVALID_ARG, err, errlen,
            "tools: function calling and built-in tools are not supported by gemrun serve");
    gr_status s = gemini_contents(g, root, err, errlen);
    if (!s) s = gemini_config(g, get2(root, "generationConfig", "generation_config"), err, errlen);
    if (!s) finish_req(g);
    return s;
}

gr_status srv_gemini_parse(const char *body, size_t len, srv_gen *g, char *err, size_t errlen) {
    gr_status s = parse_doc(body, len, g, err, errlen);
    if (!s) s = gemini_body(g, gr_json_root(g->doc), err, errlen);
    return s;
}

gr_status srv_gemini_parse_count(const char *body, size_t len, srv_gen *g, char *err,
                                 size_t errlen) {
    gr_status s = parse_doc(body, len, g, err, errlen);
    if (s) return s;
    const gr_json_val *root = gr_json_root(g->doc);
    const gr_json_val *inner = get2(root, "generateContentRequest", "generate_content_request");
    if (inner && gr_json_get(root, "contents"))
        return gr_err(GR_E_INVALID_ARG, err, errlen,
                      "contents and generateContentRequest are mutually exclusive");
    if (inner && !gr_json_is(inner, GR_JSON_OBJECT))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "generateContentRequest: expected an object");
    return gemini_body(g, inner ? inner : root, err, errlen);
}

/* ---- OpenAI ------------------------------------------------------------------------------------
 */

/* {"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}} (or url as a string). */
static gr_status openai_image(srv_gen *g, const gr_json_val *p, img_list *imgs, const char *field,
                              char *err, size_t errlen) {
    const gr_json_val *iu = gr_json_get(p, "image_url");
    const char *url = gr_json_str(gr_json_is(iu, GR_JSON_OBJECT) ? gr_json_get(iu, "url") : iu, NULL);
    if (!url) return gr_err(GR_E_INVALID_ARG, err, errlen, "%s.image_url.url: required", field);
    if (strncmp(url, "data:", 5))
        return gr_err(GR_E_INVALID_ARG, err, errlen,
                      "%s.image_url.url: image URLs are not fetched; send a data: URL "
                      "(data:image/png;base64,...)", field);
    const char *semi = strstr(url, ";base64,");
    if (!imgs) return gr_err(GR_E_INVALID_ARG, err, errlen, "%s: images are not allowed here", field);
    if (!semi || semi - url - 5 > 40)
        return gr_err(GR_E_INVALID_ARG, err, errlen,
                      "%s.image_url.url: expected data:<image type>;base64,<data>", field);
    char *mime = own(g, strndup(url + 5, (size_t)(semi - url - 5)));
    if (!mime) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    const char *data = semi + 8;
    char f[112];
    snprintf(f, sizeof f, "%.96s.image_url", field);
    return add_image(g, imgs, mime, data, strlen(data), f, err, errlen);
}

static gr_status openai_content(srv_gen *g, const gr_json_val *c, const char *field,
                                const char **out, img_list *imgs, char *err, size_t errlen) {
    size_t n;
    const char *s = gr_json_str(c, &n);
    if (s) {
        if (strlen(s) != n) return gr_err(GR_E_INVALID_ARG, err, errlen, "%s: NUL in text", field);
        *out = s;
        return GR_OK;
    }
    if (!c || gr_json_is(c, GR_JSON_NULL)) {
        *out = "";
        return GR_OK;
    }
    if (!gr_json_is(c, GR_JSON_ARRAY))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "%s: expected a string or an array of parts",
                      field);
    joiner j = {0};
    gr_status st = GR_OK;
    for (size_t i = 0; i < gr_json_len(c) && !st; i++) {
        const gr_json_val *p = gr_json_at(c, i);
        const char *type = gr_json_str(gr_json_get(p, "type"), NULL);
        const char *t = gr_json_str(gr_json_get(p, "text"), &n);
        char pf[96];
        snprintf(pf, sizeof pf, "%.60s[%zu]", field, i);
        if (type && !strcmp(type, "text") && t && strlen(t) == n)
            join_add(&j, t, n, "\n");
        else if (type && !strcmp(type, "image_url"))
            st = openai_image(g, p, imgs, pf, err, errlen);
        else
            st = gr_err(GR_E_INVALID_ARG, err, errlen,
                        "%s: only text and image_url (data: URL) parts are supported", pf);
    }
    if (j.oom) st = gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    if (st) {
        free(j.p);
        return st;
    }
    *out = j.p ? own(g, j.p) : "";
    return *out ? GR_OK : gr_err(GR_E_NOMEM, err, errlen, "out of memory");
}

static gr_status openai_messages(srv_gen *g, const gr_json_val *msgs, char *err, size_t errlen) {
    if (!gr_json_is(msgs, GR_JSON_ARRAY) || !gr_json_len(msgs))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "messages: expected a non-empty array");
    joiner sys = {0};
    gr_status s = GR_OK;
    /* system / developer messages are folded into one leading system message */
    for (int pass = 0; pass < 2 && !s; pass++) {
        for (size_t i = 0; i < gr_json_len(msgs) && !s; i++) {
            const gr_json_val *m = gr_json_at(msgs, i);
            char field[40];
            snprintf(field, sizeof field, "messages[%zu]", i);
            const char *role = gr_json_str(gr_json_get(m, "role"), NULL);
            if (!gr_json_is(m, GR_JSON_OBJECT) || !role) {
                s = gr_err(GR_E_INVALID_ARG, err, errlen, "%s.role: required", field);
                break;
            }
            bool is_sys = !strcmp(role, "system") || !strcmp(role, "developer");
            gr_chat_role r = GR_ROLE_USER;
            if (!strcmp(role, "assistant"))
                r = GR_ROLE_MODEL;
            else if (!is_sys && strcmp(role, "user")) {
                s = gr_err(
                    GR_E_INVALID_ARG, err, errlen,
                    "%s.role: \"%.24s\" is not supported (system, developer, user, assistant)",
                    field, role);
                break;
            }
            if (is_sys != (pass == 0)) continue;
            char cf[56];
            snprintf(cf, sizeof cf, "%s.content", field);
            const char *t;
            img_list imgs = {0};
            s = openai_content(g, gr_json_get(m, "content"), cf, &t, is_sys ? NULL : &imgs, err,
                               errlen);
            if (s) break;
            if (is_sys)
                join_add(&sys, t, strlen(t), "\n\n");
            else
                s = add_msg_images(g, r, t, imgs.v, imgs.n, err, errlen);
        }
        if (pass == 0 && !s && sys.p) {
            if (!own(g, sys.p))
                s = gr_err(GR_E_NOMEM, err, errlen, "out of memory");
            else
                s = add_msg(g, GR_ROLE_SYSTEM, sys.p, err, errlen);
            sys.p = NULL;
        }
    }
    if (sys.oom && !s) s = gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    free(sys.p);
    if (!s && (!g->n_msgs || g->msgs[g->n_msgs - 1].role == GR_ROLE_SYSTEM))
        s = gr_err(GR_E_INVALID_ARG, err, errlen, "messages: need at least one user message");
    return s;
}

static gr_status openai_format(srv_gen *g, const gr_json_val *rf, char *err, size_t errlen) {
    if (!rf || gr_json_is(rf, GR_JSON_NULL)) return GR_OK;
    const char *type = gr_json_str(gr_json_get(rf, "type"), NULL);
    if (!type) return gr_err(GR_E_INVALID_ARG, err, errlen, "response_format.type: required");
    if (!strcmp(type, "text")) return GR_OK;
    if (!strcmp(type, "json_object")) {
        const gr_json_val *legacy = gr_json_get(rf, "schema"); /* llama.cpp's variant */
        if (legacy) return schema_text(g, legacy, false, "response_format.schema", err, errlen);
        g->req.output.kind = GR_OUTPUT_JSON;
        g->has_format = true;
        return GR_OK;
    }
    if (!strcmp(type, "json_schema")) {
        const gr_json_val *js = gr_json_get(rf, "json_schema");
        const gr_json_val *schema = js ? gr_json_get(js, "schema") : gr_json_get(rf, "schema");
        if (!schema)
            return gr_err(GR_E_INVALID_ARG, err, errlen,
                          "response_format.json_schema.schema: required");
        return schema_text(g, schema, false, "response_format.json_schema.schema", err, errlen);
    }
    return gr_err(GR_E_INVALID_ARG, err, errlen,
                  "response_format.type: \"%.32s\" is not text, json_object or json_schema", type);
}

static gr_status openai_sampling(srv_gen *g, const gr_json_val *root, char *err, size_t errlen) {
    const gr_json_val *v;
    double d;
    int64_t x;
    gr_status s = GR_OK;
    gr_sampling *sp = &g->req.sampling;
    if (!s && (v = gr_json_get(root, "temperature")) && !gr_json_is(v, GR_JSON_NULL))
        if (!(s = num_in(v, "temperature", 0, 2, &d, err, errlen))) sp->temperature = (float)d;
    if (!s && (v = gr_json_get(root, "top_p")) && !gr_json_is(v, GR_JSON_NULL))
        if (!(s = num_in(v, "top_p", 0, 1, &d, err, errlen))) sp->top_p = (float)d;
    if (!s && (v = gr_json_get(root, "top_k")) && !gr_json_is(v, GR_JSON_NULL))
        if (!(s = int_in(v, "top_k", 0, 1000000, &x, err, errlen))) sp->top_k = (int)x;
    if (!s && (v = gr_json_get(root, "seed")) && !gr_json_is(v, GR_JSON_NULL))
        if (!(s = int_in(v, "seed", INT64_MIN / 2, INT64_MAX / 2, &x, err, errlen)))
            sp->seed = x ? (uint64_t)x : 0x9e3779b97f4a7c15ull;
    if (!s && (v = gr_json_get(root, "n")) && !gr_json_is(v, GR_JSON_NULL))
        s = int_in(v, "n", 1, 1, &x, err, errlen);
    const char *len_keys[] = {"max_completion_tokens", "max_tokens"};
    for (int i = 0; i < 2 && !s; i++)
        if ((v = gr_json_get(root, len_keys[i])) && !gr_json_is(v, GR_JSON_NULL) &&
            !g->req.max_tokens)
            if (!(s = int_in(v, len_keys[i], 1, 1 << 24, &x, err, errlen)))
                g->req.max_tokens = (int)x;
    if (!s && (v = gr_json_get(root, "stop")) && !gr_json_is(v, GR_JSON_NULL)) {
        if (gr_json_is(v, GR_JSON_STRING))
            s = add_stop(g, v, "stop", err, errlen);
        else if (!gr_json_is(v, GR_JSON_ARRAY))
            s = gr_err(GR_E_INVALID_ARG, err, errlen,
                       "stop: expected a string or an array of strings");
        for (size_t i = 0; !s && gr_json_is(v, GR_JSON_ARRAY) && i < gr_json_len(v); i++)
            s = add_stop(g, gr_json_at(v, i), "stop", err, errlen);
    }
    return s;
}

gr_status srv_openai_parse(const char *body, size_t len, srv_gen *g, char *err, size_t errlen) {
    gr_status s = parse_doc(body, len, g, err, errlen);
    if (s) return s;
    const gr_json_val *root = gr_json_root(g->doc);
    size_t n;
    const char *model = gr_json_str(gr_json_get(root, "model"), &n);
    if (!model || !n || n >= sizeof g->model || strlen(model) != n)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "model: required (a string of 1..%zu bytes)",
                      sizeof g->model - 1);
    memcpy(g->model, model, n + 1);
    const gr_json_val *v = gr_json_get(root, "stream");
    if (v && !gr_json_is(v, GR_JSON_NULL)) {
        if (!gr_json_is(v, GR_JSON_TRUE) && !gr_json_is(v, GR_JSON_FALSE))
            return gr_err(GR_E_INVALID_ARG, err, errlen, "stream: expected true or false");
        g->stream = gr_json_bool(v);
    }
    const gr_json_val *so = gr_json_get(root, "stream_options");
    if (so && !gr_json_is(so, GR_JSON_NULL))
        g->include_usage = gr_json_bool(gr_json_get(so, "include_usage"));
    const gr_json_val *tools = gr_json_get(root, "tools");
    if (gr_json_len(tools) > 0)
        return gr_err(GR_E_INVALID_ARG, err, errlen,
                      "tools: function calling is not supported by gemrun serve");
    s = openai_messages(g, gr_json_get(root, "messages"), err, errlen);
    if (!s) s = openai_sampling(g, root, err, errlen);
    if (!s) s = openai_format(g, gr_json_get(root, "response_format"), err, errlen);
    if (!s) finish_req(g);
    return s;
}

/* ---- URLs --------------------------------------------------------------------------------------
 */

gr_status srv_parse_model_path(const char *path, char *model, size_t mcap, char *method,
                               size_t cap) {
    if (!path || !model || !method || !mcap || !cap) return GR_E_INVALID_ARG;
    model[0] = method[0] = 0;
    const char *p = path;
    if (!strncmp(p, "/v1beta/", 8))
        p += 8;
    else if (!strncmp(p, "/v1/", 4))
        p += 4;
    else if (*p == '/')
        p += 1;
    else
        return GR_E_NOT_FOUND;
    if (!strncmp(p, "models/", 7))
        p += 7;
    else if (!strncmp(p, "tunedModels/", 12))
        p += 12;
    else
        return GR_E_NOT_FOUND;
    if (!strncmp(p, "models/", 7)) p += 7; /* "models/models/x" from clients that prefix twice */
    const char *colon = strrchr(p, ':');
    size_t n = colon ? (size_t)(colon - p) : strlen(p);
    if (!n || n >= mcap || memchr(p, '/', n)) return GR_E_NOT_FOUND;
    memcpy(model, p, n);
    model[n] = 0;
    if (colon) {
        size_t m = strlen(colon + 1);
        if (!m || m >= cap) return GR_E_NOT_FOUND;
        memcpy(method, colon + 1, m + 1);
    }
    return GR_OK;
}
