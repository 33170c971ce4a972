/* run_structured.c — `gemrun run` with --schema / --output (run_structured.h): builds the local
 * engine (unless one is given), wraps it in the structured-output pipeline, and prints only a
 * validated answer. Invalid output never reaches stdout. Must not validate anything itself. */
#include "cli/run_structured.h"

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "engine/engine_local.h"
#include "layer/structured.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SCHEMA_BYTES (1u << 20)

bool cli_output_kind(const char *name, gr_output_kind *out) {
    static const gr_output_kind kinds[] = {GR_OUTPUT_TEXT, GR_OUTPUT_JSON, GR_OUTPUT_JSON_SCHEMA,
                                           GR_OUTPUT_MERMAID, GR_OUTPUT_SVG};
    for (size_t i = 0; name && i < sizeof kinds / sizeof *kinds; i++)
        if (!strcmp(name, gr_output_kind_str(kinds[i]))) return *out = kinds[i], true;
    return false;
}

static gr_status build_engine(cli_structured *o, gr_engine **out, char *err, size_t errlen) {
    gr_engine *primary = o->primary;
    o->primary = NULL;
    if (!primary) {
        gr_local_config lc = {.model_path = o->model_path,
                              .n_ctx = o->n_ctx,
                              .n_threads = o->n_threads,
                              .default_max_tokens = o->max_tokens};
        gr_status s = gr_local_engine_new(&lc, &primary, err, errlen);
        if (s) return s;
    }
    gr_structured_opts so = {.repairs = o->repairs > 0 ? o->repairs : 0}; /* 0: default */
    gr_status s = gr_structured_engine_new(primary, o->fallback, &so, out, err, errlen);
    if (s) {
        gr_engine_destroy(primary);
        return s;
    }
    o->fallback = NULL;
    return GR_OK;
}

static void print_json(const gr_result *r, const char *report) {
    gr_jw w;
    gr_jw_init(&w);
    gr_jw_obj(&w);
    gr_jw_key(&w, "text"), gr_jw_strn(&w, r->text, r->text_len);
    gr_jw_key(&w, "engine"), gr_jw_str(&w, r->engine);
    gr_jw_key(&w, "model"), gr_jw_str(&w, r->model);
    gr_jw_end(&w);
    /* splice the report object in as a member: both are writer output, so the result stays valid */
    if (gr_jw_status(&w) == GR_OK && w.len > 1)
        printf("%.*s,\"report\":%s}\n", (int)(w.len - 1), w.buf, report ? report : "null");
    gr_jw_free(&w);
}

static void log_report(const gr_structured_report *rep, const gr_result *r) {
    if (rep->used >= 0)
        fprintf(stderr, "structured output: %s valid at attempt %d of %d (%s%s)\n",
                gr_output_kind_str(rep->kind), rep->used + 1, rep->n_attempts, r->engine,
                rep->attempts[rep->used].fallback ? ", fallback" : "");
    for (int i = 0; i < rep->n_attempts; i++)
        if (rep->attempts[i].valid != 1)
            fprintf(stderr, "  attempt %d (%s%s): %s\n", i + 1, rep->attempts[i].engine,
                    rep->attempts[i].repair ? ", repair" : "", rep->attempts[i].error);
}

static int run(gr_engine *e, const cli_structured *o, gr_output_kind kind, const char *schema) {
    gr_message msgs[2];
    size_t n = 0;
    if (o->system) msgs[n++] = (gr_message){.role = GR_ROLE_SYSTEM, .text = o->system};
    msgs[n++] = (gr_message){.role = GR_ROLE_USER, .text = o->prompt};
    gr_request req = {
        .messages = msgs, .n_messages = n, .sampling = o->sampling, .max_tokens = o->max_tokens};
    req.output = (gr_output_constraint){kind, schema};
    gr_result r;
    gr_status s = gr_engine_generate(e, &req, NULL, NULL, NULL, &r);
    gr_structured_report *rep = malloc(sizeof *rep);
    bool have = rep && gr_structured_last_report(e, rep) == GR_OK;
    if (have) log_report(rep, &r);
    if (s == GR_OK) {
        char *js = o->json && have ? gr_structured_report_json(rep) : NULL;
        if (o->json)
            print_json(&r, js);
        else
            printf("%.*s\n", (int)r.text_len, r.text ? r.text : "");
        free(js);
    } else {
        fprintf(stderr, "gemrun run: %s: %s\n", gr_status_str(s), r.error);
    }
    fflush(stdout);
    free(rep);
    gr_result_clear(&r);
    return s == GR_OK ? 0 : s == GR_E_INVALID_OUTPUT ? 3 : 1;
}

int cli_run_structured(cli_structured *o) {
    char err[512] = "";
    gr_output_kind kind = o->schema_path ? GR_OUTPUT_JSON_SCHEMA : GR_OUTPUT_TEXT;
    int rc = 1;
    char *schema = NULL;
    size_t schema_len = 0;
    gr_engine *e = NULL;
    if (o->output && !cli_output_kind(o->output, &kind)) {
        fprintf(stderr,
                "gemrun run: --output: '%s' is not one of text, json, json_schema, mermaid, svg\n",
                o->output);
    } else if (o->schema_path && kind != GR_OUTPUT_JSON && kind != GR_OUTPUT_JSON_SCHEMA) {
        fprintf(stderr, "gemrun run: --schema goes with JSON output, not --output %s\n", o->output);
    } else if (kind == GR_OUTPUT_JSON_SCHEMA && !o->schema_path) {
        fprintf(stderr, "gemrun run: --output json_schema needs --schema FILE\n");
    } else if (o->schema_path &&
               gr_file_read(o->schema_path, MAX_SCHEMA_BYTES, &schema, &schema_len, err, sizeof err)) {
        fprintf(stderr, "gemrun run: --schema %s\n", err);
    } else if (build_engine(o, &e, err, sizeof err) != GR_OK) {
        fprintf(stderr, "gemrun run: %s\n", err);
    } else {
        if (schema) kind = GR_OUTPUT_JSON_SCHEMA;
        rc = run(e, o, kind, schema);
    }
    gr_engine_destroy(e);
    gr_engine_destroy(o->primary); /* consumed in every case */
    gr_engine_destroy(o->fallback);
    o->primary = o->fallback = NULL;
    free(schema);
    return rc;
}
