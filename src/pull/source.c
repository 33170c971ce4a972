/* source.c — model spec -> URL and cache name (see source.h). The table names real Hugging Face
 * files: Google's official QAT Q4_0 GGUFs (google/<model>-qat-q4_0-gguf) and unsloth's conversions
 * for the other formats. Gemma 3 repositories of Google are gated: HF_TOKEN is needed there. */
#include "pull/source.h"

#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct model_files {
    const char *id;
    const char *repo[GR_QUANT_COUNT]; /* per gr_quant; NULL: not offered as one file */
    const char *file[GR_QUANT_COUNT];
} model_files;

#define G4Q(m) "google/gemma-4-" m "-it-qat-q4_0-gguf"
#define G3Q(m) "google/gemma-3-" m "-it-qat-q4_0-gguf"
static const model_files FILES[] = {
    {"gemma-4-e2b-it",
     {G4Q("E2B"), "unsloth/gemma-4-E2B-it-GGUF", "unsloth/gemma-4-E2B-it-GGUF", "unsloth/gemma-4-E2B-it-GGUF"},
     {"gemma-4-E2B_q4_0-it.gguf", "gemma-4-E2B-it-Q4_K_M.gguf", "gemma-4-E2B-it-Q8_0.gguf",
      "gemma-4-E2B-it-BF16.gguf"}},
    {"gemma-4-e4b-it",
     {G4Q("E4B"), "unsloth/gemma-4-E4B-it-GGUF", "unsloth/gemma-4-E4B-it-GGUF", "unsloth/gemma-4-E4B-it-GGUF"},
     {"gemma-4-E4B_q4_0-it.gguf", "gemma-4-E4B-it-Q4_K_M.gguf", "gemma-4-E4B-it-Q8_0.gguf",
      "gemma-4-E4B-it-BF16.gguf"}},
    {"gemma-4-26b-a4b-it",
     {G4Q("26B-A4B"), "unsloth/gemma-4-26B-A4B-it-GGUF", NULL, NULL},
     {"gemma-4-26B_q4_0-it.gguf", "gemma-4-26B-A4B-it-UD-Q4_K_M.gguf", NULL, NULL}},
    {"gemma-4-31b-it",
     {G4Q("31B"), "unsloth/gemma-4-31B-it-GGUF", NULL, NULL},
     {"gemma-4-31B_q4_0-it.gguf", "gemma-4-31B-it-Q4_K_M.gguf", NULL, NULL}},
    {"gemma-3-1b-it",
     {G3Q("1b"), "unsloth/gemma-3-1b-it-GGUF", "unsloth/gemma-3-1b-it-GGUF", "unsloth/gemma-3-1b-it-GGUF"},
     {"gemma-3-1b-it-q4_0.gguf", "gemma-3-1b-it-Q4_K_M.gguf", "gemma-3-1b-it-Q8_0.gguf",
      "gemma-3-1b-it-BF16.gguf"}},
    {"gemma-3-4b-it",
     {G3Q("4b"), "unsloth/gemma-3-4b-it-GGUF", "unsloth/gemma-3-4b-it-GGUF", "unsloth/gemma-3-4b-it-GGUF"},
     {"gemma-3-4b-it-q4_0.gguf", "gemma-3-4b-it-Q4_K_M.gguf", "gemma-3-4b-it-Q8_0.gguf",
      "gemma-3-4b-it-BF16.gguf"}},
    {"gemma-3-12b-it",
     {G3Q("12b"), "unsloth/gemma-3-12b-it-GGUF", "unsloth/gemma-3-12b-it-GGUF", NULL},
     {"gemma-3-12b-it-q4_0.gguf", "gemma-3-12b-it-Q4_K_M.gguf", "gemma-3-12b-it-Q8_0.gguf", NULL}},
    {"gemma-3-27b-it",
     {G3Q("27b"), "unsloth/gemma-3-27b-it-GGUF", NULL, NULL},
     {"gemma-3-27b-it-q4_0.gguf", "gemma-3-27b-it-Q4_K_M.gguf", NULL, NULL}},
};
#define N_FILES (sizeof FILES / sizeof FILES[0])

gr_quant gr_pull_default_quant(const char *registry_id) {
    (void)registry_id; /* every id: Q4_0, what gr_plan_default_opts plans for */
    return GR_QUANT_Q4_0;
}

void gr_pull_safe_url(const char *url, char *out, size_t cap) {
    if (!cap) return;
    size_t o = 0;
    const char *p = url, *scheme = strstr(url, "://");
    if (scheme) {
        for (; p < scheme + 3 && o + 1 < cap; p++) out[o++] = *p;
        const char *end = p + strcspn(p, "/?#");
        const char *at = memchr(p, '@', (size_t)(end - p));
        if (at) p = at + 1;
    }
    for (; *p && *p != '?' && *p != '#' && o + 1 < cap; p++) out[o++] = *p;
    out[o] = 0;
}

/* The cache name; vsnprintf so a long name is cut, not a compile-time warning. */
static void set_name(gr_pull_source *o, const char *fmt, ...) GR_PRINTF(2, 3);
static void set_name(gr_pull_source *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->name, sizeof o->name, fmt, ap);
    va_end(ap);
}

static gr_status set_url(gr_pull_source *o, const char *url, char *err, size_t errlen) {
    if (strlen(url) >= sizeof o->url) return gr_err(GR_E_INVALID_ARG, err, errlen, "model URL too long");
    strcpy(o->url, url);
    gr_pull_safe_url(url, o->safe_url, sizeof o->safe_url);
    return GR_OK;
}

/* Percent-encode a repository path (keeps '/' and the unreserved set). */
static bool encode_path(const char *s, char *out, size_t cap) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                    strchr("-._~/", ch);
        if (o + (keep ? 1 : 3) >= cap) return false;
        if (keep) out[o++] = (char)ch;
        else out[o++] = '%', out[o++] = hex[ch >> 4], out[o++] = hex[ch & 15];
    }
    out[o] = 0;
    return true;
}

static gr_status hf_url(gr_pull_source *o, const char *repo, const char *file, const char *rev,
                        char *err, size_t errlen) {
    const char *ep = getenv("HF_ENDPOINT");
    if (!ep || !*ep) ep = "https://huggingface.co";
    size_t el = strlen(ep);
    while (el && ep[el - 1] == '/') el--;
    char erepo[512], efile[1024], erev[256], url[2048];
    if (!encode_path(repo, erepo, sizeof erepo) || !encode_path(file, efile, sizeof efile) ||
        !encode_path(rev, erev, sizeof erev))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "Hugging Face path too long");
    int n = snprintf(url, sizeof url, "%.*s/%s/resolve/%s/%s", (int)el, ep, erepo, erev, efile);
    if (n < 0 || (size_t)n >= sizeof url) return gr_err(GR_E_INVALID_ARG, err, errlen, "model URL too long");
    o->hf = true;
    return set_url(o, url, err, errlen);
}

static gr_status parse_registry(const char *spec, gr_pull_source *o, char *err, size_t errlen) {
    char id[64] = {0};
    const char *colon = strchr(spec, ':');
    size_t idl = colon ? (size_t)(colon - spec) : strlen(spec);
    if (idl >= sizeof id) return GR_E_NOT_FOUND;
    memcpy(id, spec, idl);
    const model_files *m = NULL;
    for (size_t i = 0; i < N_FILES && !m; i++)
        if (!strcmp(FILES[i].id, id)) m = &FILES[i];
    if (!m) return GR_E_NOT_FOUND;
    gr_quant q = gr_pull_default_quant(id);
    if (colon && gr_quant_parse(colon + 1, &q, err, errlen) != GR_OK) return GR_E_INVALID_ARG;
    if (!m->repo[q])
        return gr_err(GR_E_INVALID_ARG, err, errlen,
                      "%s: no single-file %s GGUF is known; pull OWNER/REPO/FILE.gguf instead", id,
                      gr_quant_name(q));
    o->registry = true;
    o->quant = q;
    strcpy(o->registry_id, id);
    if (q == gr_pull_default_quant(id)) set_name(o, "%s", id);
    else set_name(o, "%s:%s", id, gr_quant_name(q));
    return hf_url(o, m->repo[q], m->file[q], "main", err, errlen);
}

/* "owner/repo/path/file[@rev]" */
static gr_status parse_hf(const char *spec, gr_pull_source *o, char *err, size_t errlen) {
    char buf[1024];
    if (strlen(spec) >= sizeof buf) return gr_err(GR_E_INVALID_ARG, err, errlen, "model name too long");
    strcpy(buf, spec);
    char *at = strrchr(buf, '@'), *rev = "main";
    if (at && !strchr(at, '/')) *at = 0, rev = at + 1;
    char *s1 = strchr(buf, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    if (!s1 || !s2 || s1 == buf || s2 == s1 + 1 || !s2[1] || !*rev || strstr(buf, "..") ||
        buf[strlen(buf) - 1] == '/')
        return gr_err(GR_E_INVALID_ARG, err, errlen,
                      "'%s': expected a registry id, OWNER/REPO/FILE[@REVISION] or an http(s) URL", spec);
    *s2 = 0;
    set_name(o, "%s/%s%s%s", buf, s2 + 1, strcmp(rev, "main") ? "@" : "", strcmp(rev, "main") ? rev : "");
    return hf_url(o, buf, s2 + 1, rev, err, errlen);
}

gr_status gr_pull_source_parse(const char *spec, gr_pull_source *o, char *err, size_t errlen) {
    memset(o, 0, sizeof *o);
    if (!spec || !*spec) return gr_err(GR_E_INVALID_ARG, err, errlen, "no model given");
    if (!strncmp(spec, "http://", 7) || !strncmp(spec, "https://", 8)) {
        gr_status s = set_url(o, spec, err, errlen);
        size_t n = strlen(o->safe_url);
        if (!s && n >= sizeof o->name) return gr_err(GR_E_INVALID_ARG, err, errlen, "model URL too long");
        if (!s) memcpy(o->name, o->safe_url, n + 1);
        return s;
    }
    if (strstr(spec, "://") && strncmp(spec, "hf://", 5))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "'%s': only http(s) URLs can be pulled", spec);
    if (!strncmp(spec, "hf://", 5)) return parse_hf(spec + 5, o, err, errlen);
    if (strchr(spec, '/')) return parse_hf(spec, o, err, errlen);
    gr_status s = parse_registry(spec, o, err, errlen);
    if (s == GR_E_NOT_FOUND) {
        char list[512] = "";
        for (size_t i = 0; i < N_FILES; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", FILES[i].id);
        return gr_err(GR_E_INVALID_ARG, err, errlen,
                      "'%s' is not a known model id (%s; add :q4_0|:q4_k_m|:q8_0|:bf16), nor "
                      "OWNER/REPO/FILE or a URL", spec, list);
    }
    return s;
}
