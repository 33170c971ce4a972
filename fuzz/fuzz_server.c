/* fuzz_server.c — libFuzzer target for the server's request parsers: Gemini GenerateContentRequest
 * and countTokens bodies, OpenAI Chat Completions bodies, model paths in URLs, and the "local" /
 * "server" configuration sections. The first input byte picks the parser. Every input must parse
 * into a consistent gr_request (messages with NUL-terminated texts, stops, a compilable-or-absent
 * schema text) or fail with GR_E_INVALID_ARG and a message; anything else is a bug. */
#include "server/srv.h"

#include <stdlib.h>
#include <string.h>

static void check_request(const srv_gen *g) {
    const gr_request *r = &g->req;
    if (!r->n_messages || !r->messages) abort();
    for (size_t i = 0; i < r->n_messages; i++) {
        if (!r->messages[i].text) abort();
        if (r->messages[i].role > GR_ROLE_MODEL) abort();
        (void)strlen(r->messages[i].text);
    }
    if (r->n_stop > SRV_MAX_STOPS || (r->n_stop && !r->stop)) abort();
    for (size_t i = 0; i < r->n_stop; i++)
        if (!r->stop[i] || !*r->stop[i] || strlen(r->stop[i]) > 256) abort();
    if (r->output.kind == GR_OUTPUT_JSON_SCHEMA) {
        gr_json *d = NULL;
        /* the schema text we pass on must itself be valid JSON */
        if (!r->output.schema ||
            gr_json_parse(r->output.schema, strlen(r->output.schema), NULL, &d, NULL, 0))
            abort();
        gr_json_free(d);
    }
    if (r->max_tokens < 0 || r->sampling.top_p < 0 || r->sampling.top_p > 1) abort();
}

static void one(int which, const char *text, size_t len) {
    srv_gen g;
    char err[300] = "";
    gr_status s;
    switch (which) {
    case 0:
        s = srv_gemini_parse(text, len, &g, err, sizeof err);
        break;
    case 1:
        s = srv_gemini_parse_count(text, len, &g, err, sizeof err);
        break;
    default:
        s = srv_openai_parse(text, len, &g, err, sizeof err);
        break;
    }
    if (s == GR_OK)
        check_request(&g);
    else if ((s != GR_E_INVALID_ARG && s != GR_E_NOMEM) || !err[0])
        abort();
    srv_gen_free(&g);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    if (!size) return 0;
    int which = data[0] % 5;
    /* a NUL-terminated copy: paths and config text are C strings in the server */
    char *text = malloc(size);
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    if (which <= 2) {
        one(which, text, size - 1);
    } else if (which == 3) {
        char model[160], method[40];
        if (srv_parse_model_path(text, model, sizeof model, method, sizeof method) == GR_OK) {
            if (!model[0] || strchr(model, '/') || strlen(model) >= sizeof model) abort();
        }
    } else {
        gr_server_config c;
        gr_server_config_init(&c);
        char *owned = NULL, err[300] = "";
        gr_status s = gr_server_config_parse(text, size - 1, &c, &owned, err, sizeof err);
        if (s != GR_OK && !err[0]) abort();
        free(owned);
    }
    free(text);
    return 0;
}
