/* run_cloud.c — `gemrun run --engine cloud` (see run_cloud.h). */
#include "cli/run_cloud.h"

#include "cli/signals.h"
#include "core/file.h"
#include "core/json.h"
#include "engine/engine_cloud.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *pick(const char *flag, const char *env) {
    if (flag) return flag;
    const char *v = getenv(env);
    return v && *v ? v : NULL;
}

gr_engine *cli_cloud_engine(const cli_cloud *c) {
    char err[512];
    gr_cloud_config cfg;
    gr_json *doc = NULL;
    const char *path = pick(c->config, "GEMRUN_CONFIG");
    if (path) {
        size_t len = 0;
        char *txt = NULL;
        if (gr_file_read(path, GR_FILE_CONFIG_MAX, &txt, &len, err, sizeof err) != GR_OK) {
            fprintf(stderr, "gemrun run: %s\n", err);
            return NULL;
        }
        gr_status s = gr_json_parse(txt, len, NULL, &doc, err, sizeof err);
        free(txt);
        if (s != GR_OK) {
            fprintf(stderr, "gemrun run: %s: %s\n", path, err);
            return NULL;
        }
    }
    gr_engine *e = NULL;
    if (gr_cloud_config_from_json(gr_json_get(gr_json_root(doc), "cloud"), &cfg, err, sizeof err) !=
        GR_OK) {
        fprintf(stderr, "gemrun run: %s: %s\n", path, err);
        goto out;
    }
    const char *proto = pick(c->protocol, "GEMRUN_CLOUD_PROTOCOL");
    if (proto && !strcmp(proto, "openai"))
        cfg.protocol = GR_CLOUD_OPENAI;
    else if (proto && !strcmp(proto, "gemini"))
        cfg.protocol = GR_CLOUD_GEMINI;
    else if (proto) {
        fprintf(stderr, "gemrun run: --cloud-protocol: expected gemini or openai\n");
        goto out;
    }
    const char *url = pick(c->url, "GEMRUN_CLOUD_URL"),
               *model = pick(c->model, "GEMRUN_CLOUD_MODEL");
    if (url) cfg.base_url = url;
    if (model) cfg.model = model;
    if (!cfg.model) {
        fprintf(stderr,
                "gemrun run: --engine cloud needs --cloud-model M (or GEMRUN_CLOUD_MODEL)\n");
        goto out;
    }
    if (gr_cloud_engine_new(&cfg, &e, err, sizeof err) != GR_OK)
        fprintf(stderr, "gemrun run: %s\n", err);
out:
    gr_json_free(doc);
    return e;
}

static int to_stdout(void *user, const char *d, size_t n) {
    (void)user;
    fwrite(d, 1, n, stdout);
    fflush(stdout);
    return 0;
}

static void json_text(const char *key, const char *s, size_t n, bool comma) {
    gr_jw w;
    gr_jw_init(&w);
    gr_jw_strn(&w, s ? s : "", s ? n : 0);
    printf("%s\"%s\":%s", comma ? "," : "", key,
           gr_jw_status(&w) == GR_OK && w.buf ? w.buf : "\"\"");
    gr_jw_free(&w);
}

int cli_run_cloud(gr_engine *e, const char *prompt, int max_tokens, const gr_sampling *sp,
                  bool json) {
    gr_cancel cancel; /* Ctrl-C: the transfer stops and the connection closes */
    gr_cancel_init(&cancel);
    cli_signals saved;
    cli_cancel_on_signals(&cancel, false, &saved);
    gr_message msg = {.role = GR_ROLE_USER, .text = prompt};
    gr_request rq = {.messages = &msg, .n_messages = 1, .sampling = *sp, .max_tokens = max_tokens};
    gr_result r;
    gr_status s = gr_engine_generate(e, &rq, json ? NULL : to_stdout, NULL, &cancel, &r);
    cli_signals_restore(&saved);
    if (json) {
        printf("{");
        json_text("text", r.text, r.text_len, false);
        json_text("finish", gr_finish_str(r.finish), strlen(gr_finish_str(r.finish)), true);
        json_text("engine", r.engine, strlen(r.engine), true);
        json_text("model", r.model, strlen(r.model), true);
        printf(",\"prompt_tokens\":%d,\"completion_tokens\":%d,\"ttft_ms\":%.1f,\"total_ms\":%.1f",
               r.usage.prompt_tokens, r.usage.completion_tokens, r.timings.ttft_ms,
               r.timings.total_ms);
        if (s != GR_OK) json_text("error", r.error, strlen(r.error), true);
        printf("}\n");
    } else {
        printf("\n");
    }
    fflush(stdout);
    if (s != GR_OK) fprintf(stderr, "gemrun run: %s (%s)\n", r.error, gr_status_str(s));
    fprintf(stderr,
            "cloud %s: prompt %d tokens | generation %d tokens, finish %s, first text %.0f ms, "
            "total %.0f ms\n",
            r.model, r.usage.prompt_tokens, r.usage.completion_tokens, gr_finish_str(r.finish),
            r.timings.ttft_ms, r.timings.total_ms);
    gr_result_clear(&r);
    gr_engine_destroy(e);
    return s == GR_OK ? 0 : s == GR_E_CANCELLED ? 130 : 1;
}
