/* openai.c — Chat Completions request bodies and response parsing (see openai.h; the wire format is
 * in /work/shared/spec/apis.md section 3). */
#include "cloud/openai.h"

#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *role_name(gr_chat_role r) {
    if (r == GR_ROLE_SYSTEM) return "system";
    if (r == GR_ROLE_MODEL) return "assistant";
    return "user";
}

static gr_status write_response_format(gr_jw *w, const gr_request *req, char *err, size_t errlen) {
    if (req->output.kind == GR_OUTPUT_JSON ||
        (req->output.kind == GR_OUTPUT_JSON_SCHEMA && !req->output.schema)) {
        gr_jw_key(w, "response_format");
        gr_jw_obj(w);
        gr_jw_key(w, "type");
        gr_jw_str(w, "json_object");
        gr_jw_end(w);
        return GR_OK;
    }
    if (req->output.kind != GR_OUTPUT_JSON_SCHEMA) return GR_OK;
    gr_json *doc = NULL;
    char perr[128];
    if (gr_json_parse(req->output.schema, strlen(req->output.schema), NULL, &doc, perr,
                      sizeof perr) != GR_OK)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "cloud openai: output schema: %s", perr);
    gr_jw_key(w, "response_format");
    gr_jw_obj(w);
    gr_jw_key(w, "type");
    gr_jw_str(w, "json_schema");
    gr_jw_key(w, "json_schema");
    gr_jw_obj(w);
    gr_jw_key(w, "name");
    gr_jw_str(w, "output");
    gr_jw_key(w, "schema");
    gr_jw_value(w, gr_json_root(doc));
    gr_jw_end(w);
    gr_jw_end(w);
    gr_json_free(doc);
    return GR_OK;
}

static void write_sampling(gr_jw *w, const gr_request *req) {
    const gr_sampling *s = &req->sampling;
    if (s->temperature >= 0) gr_jw_key(w, "temperature"), gr_cloud_jw_float(w, s->temperature);
    if (s->top_p > 0) gr_jw_key(w, "top_p"), gr_cloud_jw_float(w, s->top_p);
    /* top_k is not part of the OpenAI API (its server rejects unknown fields): not sent. */
    if (s->seed) gr_jw_key(w, "seed"), gr_jw_int(w, (int64_t)(s->seed & 0x7fffffffffffffffULL));
    /* max_tokens: the field every compatible server parses (Ollama ignores max_completion_tokens).
     */
    if (req->max_tokens > 0) gr_jw_key(w, "max_tokens"), gr_jw_int(w, req->max_tokens);
    if (req->n_stop && req->stop) {
        gr_jw_key(w, "stop");
        gr_jw_arr(w);
        for (size_t i = 0; i < req->n_stop; i++)
            gr_jw_str(w, req->stop[i] ? req->stop[i] : "");
        gr_jw_end(w);
    }
}

/* A plain string, or (with images) the content-part array: text, then image_url data: URLs. */
static void write_content(gr_jw *w, const gr_message *m) {
    const char *text = m->text ? m->text : "";
    if (!m->images || !m->n_images) {
        gr_jw_str(w, text);
        return;
    }
    gr_jw_arr(w);
    if (*text) {
        gr_jw_obj(w);
        gr_jw_key(w, "type"), gr_jw_str(w, "text");
        gr_jw_key(w, "text"), gr_jw_str(w, text);
        gr_jw_end(w);
    }
    for (size_t k = 0; k < m->n_images; k++) {
        const gr_image *im = &m->images[k];
        size_t cap = strlen(im->mime_type) + strlen(im->base64) + 14;
        char *url = malloc(cap);
        if (url) snprintf(url, cap, "data:%s;base64,%s", im->mime_type, im->base64);
        gr_jw_obj(w);
        gr_jw_key(w, "type"), gr_jw_str(w, "image_url");
        gr_jw_key(w, "image_url");
        gr_jw_obj(w);
        gr_jw_key(w, "url"), gr_jw_str(w, url ? url : "");
        gr_jw_end(w);
        gr_jw_end(w);
        free(url);
    }
    gr_jw_end(w);
}

gr_status gr_openai_build_body(const gr_request *req, const char *model, bool stream, char **body,
                               size_t *len, char *err, size_t errlen) {
    *body = NULL;
    *len = 0;
    if (!req || !req->n_messages)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "cloud openai: the request has no message");
    gr_jw w;
    gr_jw_init(&w);
    gr_jw_obj(&w);
    gr_jw_key(&w, "model");
    gr_jw_str(&w, model);
    gr_jw_key(&w, "messages");
    gr_jw_arr(&w);
    for (size_t i = 0; i < req->n_messages; i++) {
        gr_jw_obj(&w);
        gr_jw_key(&w, "role");
        gr_jw_str(&w, role_name(req->messages[i].role));
        gr_jw_key(&w, "content");
        write_content(&w, &req->messages[i]);
        gr_jw_end(&w);
    }
    gr_jw_end(&w);
    gr_jw_key(&w, "stream");
    gr_jw_bool(&w, stream);
    if (stream) {
        gr_jw_key(&w, "stream_options");
        gr_jw_obj(&w);
        gr_jw_key(&w, "include_usage");
        gr_jw_bool(&w, true);
        gr_jw_end(&w);
    }
    write_sampling(&w, req);
    gr_status st = write_response_format(&w, req, err, errlen);
    gr_jw_end(&w);
    if (st == GR_OK && gr_jw_status(&w) != GR_OK)
        st = gr_err(gr_jw_status(&w), err, errlen, "cloud openai: cannot write the request body");
    if (st == GR_OK) *body = gr_jw_take(&w, len);
    gr_jw_free(&w);
    return st;
}

static void take_usage(const gr_json_val *u, gr_cloud_reply *r) {
    int64_t v;
    if (gr_json_int(gr_json_get(u, "prompt_tokens"), &v) == GR_OK) r->prompt_tokens = (int)v;
    if (gr_json_int(gr_json_get(u, "completion_tokens"), &v) == GR_OK)
        r->completion_tokens = (int)v;
}

static void take_finish(const gr_json_val *fr, gr_cloud_reply *r) {
    if (!gr_json_is(fr, GR_JSON_STRING)) return; /* null until the last chunk */
    gr_cloud_copy_str(fr, r->finish_raw, sizeof r->finish_raw);
    r->finished = true;
    r->filtered = !strcmp(r->finish_raw, "content_filter");
    r->finish = !strcmp(r->finish_raw, "length") ? GR_FINISH_LENGTH
                : r->filtered                    ? GR_FINISH_ERROR
                                                 : GR_FINISH_STOP;
}

gr_status gr_openai_parse(const char *json, size_t len, bool stream, gr_cloud_reply *r,
                          gr_cloud_text_fn fn, void *user, char *err, size_t errlen) {
    if (stream && len == 6 && memcmp(json, "[DONE]", 6) == 0) {
        r->done = true;
        return GR_OK;
    }
    gr_json *doc = NULL;
    char perr[128];
    if (gr_json_parse(json, len, NULL, &doc, perr, sizeof perr) != GR_OK)
        return gr_err(GR_E_UPSTREAM, err, errlen, "cloud openai: response is not JSON (%s)", perr);
    const gr_json_val *root = gr_json_root(doc);
    gr_status st = GR_OK;
    if (gr_cloud_take_error(root, r)) goto out;
    const gr_json_val *choices = gr_json_get(root, "choices");
    if (!gr_json_is(root, GR_JSON_OBJECT) || !gr_json_is(choices, GR_JSON_ARRAY)) {
        st = gr_err(GR_E_UPSTREAM, err, errlen, "cloud openai: response has no \"choices\" array");
        goto out;
    }
    r->n_chunks++;
    take_usage(gr_json_get(root, "usage"), r);
    const gr_json_val *c0 = gr_json_at(choices, 0); /* the usage chunk has choices: [] */
    size_t n = 0;
    const char *t =
        gr_json_str(gr_json_get(gr_json_get(c0, stream ? "delta" : "message"), "content"), &n);
    if (t && n && fn && fn(user, t, n)) st = GR_E_CANCELLED;
    take_finish(gr_json_get(c0, "finish_reason"), r);
out:
    gr_json_free(doc);
    return st;
}
