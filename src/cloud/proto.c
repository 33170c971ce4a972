/* proto.c — shared pieces of the cloud protocols (see proto.h). */
#include "cloud/proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gr_cloud_reply_init(gr_cloud_reply *r) {
    memset(r, 0, sizeof *r);
    r->prompt_tokens = -1;
    r->completion_tokens = -1;
    r->retry_delay_s = -1;
}

gr_status gr_cloud_status_for_http(int http) {
    if (http == 401 || http == 403) return GR_E_AUTH;
    if (http == 404) return GR_E_NOT_FOUND;
    if (http == 408) return GR_E_TIMEOUT;
    if (http == 429) return GR_E_RATE_LIMITED;
    if (http >= 400 && http < 500) return GR_E_INVALID_ARG;
    return GR_E_UPSTREAM;
}

bool gr_cloud_retryable(int http) {
    return http == 408 || http == 429 || http == 500 || http == 502 || http == 503 || http == 504;
}

double gr_cloud_parse_duration(const char *s, size_t len) {
    if (!s || len < 2 || len > 40 || s[len - 1] != 's') return -1;
    char buf[48];
    memcpy(buf, s, len - 1);
    buf[len - 1] = 0;
    for (size_t i = 0; i + 1 < len; i++)
        if (!((buf[i] >= '0' && buf[i] <= '9') || buf[i] == '.')) return -1;
    char *end = NULL;
    double v = strtod(buf, &end);
    return end && *end == 0 && v >= 0 ? v : -1;
}

void gr_cloud_copy_str(const gr_json_val *v, char *out, size_t cap) {
    size_t n = 0;
    const char *s = gr_json_str(v, &n);
    if (!cap) return;
    if (!s) n = 0;
    if (n >= cap) n = cap - 1;
    if (n) memcpy(out, s, n);
    out[n] = 0;
    /* Keep messages printable on one line: an error body may hold newlines or NULs. */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x20) out[i] = ' ';
}

static void take_details(const gr_json_val *details, gr_cloud_reply *r) {
    for (size_t i = 0; i < gr_json_len(details); i++) {
        const gr_json_val *d = gr_json_at(details, i);
        const char *type = gr_json_str(gr_json_get(d, "@type"), NULL);
        const char *reason = gr_json_str(gr_json_get(d, "reason"), NULL);
        if (type && strstr(type, "google.rpc.ErrorInfo") && reason &&
            !strcmp(reason, "API_KEY_INVALID"))
            r->key_invalid = true;
        if (!type || !strstr(type, "google.rpc.RetryInfo")) continue;
        size_t n = 0;
        const char *delay = gr_json_str(gr_json_get(d, "retryDelay"), &n);
        double s = gr_cloud_parse_duration(delay, n);
        if (s >= 0) r->retry_delay_s = s;
    }
}

bool gr_cloud_take_error(const gr_json_val *v, gr_cloud_reply *r) {
    if (gr_json_is(v, GR_JSON_ARRAY)) v = gr_json_at(v, 0);
    const gr_json_val *e = gr_json_get(v, "error");
    if (!e) return false;
    r->has_error = true;
    if (gr_json_is(e, GR_JSON_STRING)) { /* some servers send {"error":"text"} */
        gr_cloud_copy_str(e, r->error_msg, sizeof r->error_msg);
        return true;
    }
    int64_t code = 0;
    const gr_json_val *c = gr_json_get(e, "code");
    if (gr_json_int(c, &code) == GR_OK && code > 0 && code < 1000) r->error_code = (int)code;
    const gr_json_val *st = gr_json_get(e, "status");
    if (!st) st = gr_json_get(e, "type");
    gr_cloud_copy_str(st, r->error_status, sizeof r->error_status);
    gr_cloud_copy_str(gr_json_get(e, "message"), r->error_msg, sizeof r->error_msg);
    take_details(gr_json_get(e, "details"), r);
    if (!strncmp(r->error_msg, "API key not valid", 17)) r->key_invalid = true;
    return true;
}

void gr_cloud_jw_float(gr_jw *w, double x) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.6g", x);
    gr_jw_num(w, strtod(buf, NULL));
}
