/* gemini.c — Gemini API request bodies and response parsing (see gemini.h; the wire format is in
 * /work/shared/spec/apis.md section 1). */
#include "cloud/gemini.h"

#include "core/error.h"

#include <string.h>

static void write_text_part(gr_jw *w, const char *text) {
    gr_jw_obj(w);
    gr_jw_key(w, "text");
    gr_jw_str(w, text);
    gr_jw_end(w);
}

/* The system text of all system messages, joined with "\n\n" (malloc'ed; NULL when none). */
static char *join_system(const gr_request *req) {
    size_t n = 0;
    for (size_t i = 0; i < req->n_messages; i++)
        if (req->messages[i].role == GR_ROLE_SYSTEM && req->messages[i].text)
            n += strlen(req->messages[i].text) + 2;
    if (!n) return NULL;
    char *s = malloc(n + 1), *p = s;
    if (!s) return NULL;
    for (size_t i = 0; i < req->n_messages; i++) {
        const gr_message *m = &req->messages[i];
        if (m->role != GR_ROLE_SYSTEM || !m->text) continue;
        if (p != s) *p++ = '\n', *p++ = '\n';
        size_t l = strlen(m->text);
        memcpy(p, m->text, l);
        p += l;
    }
    *p = 0;
    return s;
}

static void write_contents(gr_jw *w, const gr_request *req, const char *folded) {
    gr_jw_key(w, "contents");
    gr_jw_arr(w);
    bool first_user = true;
    for (size_t i = 0; i < req->n_messages; i++) {
        const gr_message *m = &req->messages[i];
        if (m->role == GR_ROLE_SYSTEM) continue;
        gr_jw_obj(w);
        gr_jw_key(w, "role");
        gr_jw_str(w, m->role == GR_ROLE_MODEL ? "model" : "user");
        gr_jw_key(w, "parts");
        gr_jw_arr(w);
        gr_jw_obj(w);
        gr_jw_key(w, "text");
        if (folded && first_user && m->role == GR_ROLE_USER) {
            /* One string: system text, blank line, user text. */
            size_t a = strlen(folded), b = m->text ? strlen(m->text) : 0;
            char *t = malloc(a + b + 3);
            if (t) {
                memcpy(t, folded, a);
                memcpy(t + a, "\n\n", 2);
                if (b) memcpy(t + a + 2, m->text, b);
                t[a + 2 + b] = 0;
            }
            gr_jw_str(w, t ? t : "");
            free(t);
        } else {
            gr_jw_str(w, m->text ? m->text : "");
        }
        if (m->role == GR_ROLE_USER) first_user = false;
        gr_jw_end(w);
        for (size_t k = 0; m->images && k < m->n_images; k++) {
            gr_jw_obj(w);
            gr_jw_key(w, "inline_data");
            gr_jw_obj(w);
            gr_jw_key(w, "mime_type"), gr_jw_str(w, m->images[k].mime_type);
            gr_jw_key(w, "data"), gr_jw_str(w, m->images[k].base64);
            gr_jw_end(w);
            gr_jw_end(w);
        }
        gr_jw_end(w);
        gr_jw_end(w);
    }
    gr_jw_end(w);
}

static gr_status write_generation_config(gr_jw *w, const gr_request *req, char *err,
                                         size_t errlen) {
    gr_jw_key(w, "generationConfig");
    gr_jw_obj(w);
    const gr_sampling *s = &req->sampling;
    if (s->temperature >= 0) gr_jw_key(w, "temperature"), gr_cloud_jw_float(w, s->temperature);
    if (s->top_k > 0) gr_jw_key(w, "topK"), gr_jw_int(w, s->top_k);
    if (s->top_p > 0) gr_jw_key(w, "topP"), gr_cloud_jw_float(w, s->top_p);
    /* The API's seed is an int32: keep the low 31 bits so a 64-bit seed still means something. */
    if (s->seed) gr_jw_key(w, "seed"), gr_jw_int(w, (int64_t)(s->seed & 0x7fffffff));
    if (req->max_tokens > 0) gr_jw_key(w, "maxOutputTokens"), gr_jw_int(w, req->max_tokens);
    if (req->n_stop && req->stop) {
        gr_jw_key(w, "stopSequences");
        gr_jw_arr(w);
        for (size_t i = 0; i < req->n_stop; i++)
            gr_jw_str(w, req->stop[i] ? req->stop[i] : "");
        gr_jw_end(w);
    }
    gr_status st = GR_OK;
    if (req->output.kind == GR_OUTPUT_JSON || req->output.kind == GR_OUTPUT_JSON_SCHEMA) {
        gr_jw_key(w, "responseMimeType");
        gr_jw_str(w, "application/json");
    }
    if (req->output.kind == GR_OUTPUT_JSON_SCHEMA && req->output.schema) {
        gr_json *doc = NULL;
        char perr[128];
        st = gr_json_parse(req->output.schema, strlen(req->output.schema), NULL, &doc, perr,
                           sizeof perr);
        if (st != GR_OK) {
            st = gr_err(GR_E_INVALID_ARG, err, errlen, "cloud gemini: output schema: %s", perr);
        } else {
            /* responseJsonSchema takes standard JSON Schema; responseSchema would need the
             * OpenAPI subset with upper-case type names. */
            gr_jw_key(w, "responseJsonSchema");
            gr_jw_value(w, gr_json_root(doc));
        }
        gr_json_free(doc);
    }
    gr_jw_end(w);
    return st;
}

gr_status gr_gemini_build_body(const gr_request *req, bool fold_system, char **body, size_t *len,
                               char *err, size_t errlen) {
    *body = NULL;
    *len = 0;
    size_t n_turns = 0;
    for (size_t i = 0; req && i < req->n_messages; i++)
        n_turns += req->messages[i].role != GR_ROLE_SYSTEM;
    if (!req || !n_turns)
        return gr_err(GR_E_INVALID_ARG, err, errlen,
                      "cloud gemini: the request has no user message");
    char *sys = join_system(req);
    gr_jw w;
    gr_jw_init(&w);
    gr_jw_obj(&w);
    if (sys && !fold_system) {
        gr_jw_key(&w, "systemInstruction");
        gr_jw_obj(&w);
        gr_jw_key(&w, "parts");
        gr_jw_arr(&w);
        write_text_part(&w, sys);
        gr_jw_end(&w);
        gr_jw_end(&w);
    }
    write_contents(&w, req, fold_system ? sys : NULL);
    gr_status st = write_generation_config(&w, req, err, errlen);
    gr_jw_end(&w);
    free(sys);
    if (st == GR_OK && gr_jw_status(&w) != GR_OK)
        st = gr_err(gr_jw_status(&w), err, errlen, "cloud gemini: cannot write the request body");
    if (st == GR_OK) *body = gr_jw_take(&w, len);
    gr_jw_free(&w);
    return st;
}

static gr_finish finish_of(const char *r, bool *filtered) {
    *filtered = false;
    if (!strcmp(r, "MAX_TOKENS")) return GR_FINISH_LENGTH;
    if (!strcmp(r, "STOP") || !strcmp(r, "FINISH_REASON_UNSPECIFIED") || !strcmp(r, "OTHER"))
        return GR_FINISH_STOP;
    *filtered = true; /* SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII, ... */
    return GR_FINISH_ERROR;
}

static void take_usage(const gr_json_val *u, gr_cloud_reply *r) {
    int64_t v;
    if (gr_json_int(gr_json_get(u, "promptTokenCount"), &v) == GR_OK) r->prompt_tokens = (int)v;
    /* Usage is cumulative over a stream: the last chunk's numbers win. Thoughts are generated
     * tokens too (they are billed and take time), so they count as completion tokens. */
    int64_t c = 0, t = 0;
    bool has_c = gr_json_int(gr_json_get(u, "candidatesTokenCount"), &c) == GR_OK;
    bool has_t = gr_json_int(gr_json_get(u, "thoughtsTokenCount"), &t) == GR_OK;
    if (has_c || has_t) r->completion_tokens = (int)(c + t);
}

/* Text parts of candidate 0 that are not thoughts, in order. */
static gr_status take_parts(const gr_json_val *cand, gr_cloud_text_fn fn, void *user) {
    const gr_json_val *parts = gr_json_get(gr_json_get(cand, "content"), "parts");
    for (size_t i = 0; i < gr_json_len(parts); i++) {
        const gr_json_val *p = gr_json_at(parts, i);
        if (gr_json_bool(gr_json_get(p, "thought"))) continue;
        size_t n = 0;
        const char *t = gr_json_str(gr_json_get(p, "text"), &n);
        if (t && n && fn && fn(user, t, n)) return GR_E_CANCELLED;
    }
    return GR_OK;
}

static gr_status take_response(const gr_json_val *root, gr_cloud_reply *r, gr_cloud_text_fn fn,
                               void *user) {
    r->n_chunks++;
    take_usage(gr_json_get(root, "usageMetadata"), r);
    const gr_json_val *cands = gr_json_get(root, "candidates");
    const gr_json_val *cand = gr_json_at(cands, 0);
    const gr_json_val *block = gr_json_get(gr_json_get(root, "promptFeedback"), "blockReason");
    if (!cand && block) {
        r->blocked = true;
        gr_cloud_copy_str(block, r->finish_raw, sizeof r->finish_raw);
        return GR_OK;
    }
    gr_status st = take_parts(cand, fn, user);
    const gr_json_val *fr = gr_json_get(cand, "finishReason");
    if (gr_json_is(fr, GR_JSON_STRING)) {
        gr_cloud_copy_str(fr, r->finish_raw, sizeof r->finish_raw);
        r->finished = true;
        r->finish = finish_of(r->finish_raw, &r->filtered);
    }
    return st;
}

gr_status gr_gemini_parse(const char *json, size_t len, gr_cloud_reply *r, gr_cloud_text_fn fn,
                          void *user, char *err, size_t errlen) {
    gr_json *doc = NULL;
    char perr[128];
    if (gr_json_parse(json, len, NULL, &doc, perr, sizeof perr) != GR_OK)
        return gr_err(GR_E_UPSTREAM, err, errlen, "cloud gemini: response is not JSON (%s)", perr);
    const gr_json_val *root = gr_json_root(doc);
    gr_status st = GR_OK;
    if (gr_cloud_take_error(root, r)) {
        st = GR_OK;
    } else if (gr_json_is(root, GR_JSON_ARRAY)) { /* a whole JSON-array stream given at once */
        for (size_t i = 0; i < gr_json_len(root) && st == GR_OK; i++) {
            const gr_json_val *el = gr_json_at(root, i);
            if (!gr_json_is(el, GR_JSON_OBJECT))
                st = gr_err(GR_E_UPSTREAM, err, errlen,
                            "cloud gemini: stream element %zu is not an object", i);
            else if (!gr_cloud_take_error(el, r))
                st = take_response(el, r, fn, user);
        }
    } else if (gr_json_is(root, GR_JSON_OBJECT)) {
        st = take_response(root, r, fn, user);
    } else {
        st =
            gr_err(GR_E_UPSTREAM, err, errlen, "cloud gemini: response is a JSON %s, not an object",
                   gr_json_type_name(gr_json_type_of(root)));
    }
    gr_json_free(doc);
    return st;
}
