/* pull_api.c — the public "pull" section of gemrun.h: gr_pull, gr_model_resolve, gr_models_json,
 * gr_model_remove, as thin wrappers over pull.c and cache.c. Kept apart from layer/api.c so the
 * browser build (which has no pull) links without it. */
#include "core/error.h"
#include "core/json.h"
#include "gemrun.h"
#include "pull/cache.h"
#include "pull/pull.h"
#include "pull/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

gr_status gr_pull(const char *model, const gr_pull_opts *opts, gr_pull_info *info, char *err,
                  size_t errlen) {
    return gr_pull_run(model, opts, NULL, info, err, errlen);
}

static bool is_file(const char *p) {
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static gr_status copy_path(const char *src, char *path, size_t cap, char *err, size_t errlen) {
    if (strlen(src) >= cap) return gr_err(GR_E_INVALID_ARG, err, errlen, "path buffer too small");
    strcpy(path, src);
    return GR_OK;
}

/* Written as a path ("/x", "./x", "../x", "~/x"): a file or nothing, never a download. */
static bool looks_like_path(const char *m) {
    return m[0] == '/' || m[0] == '~' || !strncmp(m, "./", 2) || !strncmp(m, "../", 3);
}

gr_status gr_model_resolve(const char *model, int allow_download, const gr_pull_opts *opts,
                           char *path, size_t cap, char *err, size_t errlen) {
    return gr_model_resolve_run(model, allow_download, opts, NULL, path, cap, err, errlen);
}

gr_status gr_model_resolve_run(const char *model, int allow_download, const gr_pull_opts *opts,
                               gr_cancel *cancel, char *path, size_t cap, char *err, size_t errlen) {
    if (!path || !cap) return gr_err(GR_E_INVALID_ARG, err, errlen, "no path buffer");
    path[0] = 0;
    if (model && is_file(model)) return copy_path(model, path, cap, err, errlen);
    if (model && looks_like_path(model)) {
        struct stat st;
        bool exists = stat(model, &st) == 0;
        return gr_err(GR_E_NOT_FOUND, err, errlen, "%s: %s", model,
                      exists ? "not a regular file" : "no such file");
    }
    char spec[128];
    gr_status s = GR_OK;
    if (!model || !*model) {
        if ((s = gr_pull_auto_spec(opts, spec, sizeof spec, err, errlen))) return s;
        model = spec;
    }
    gr_pull_source src;
    gr_cache c;
    gr_manifest m;
    bool by_name = gr_pull_source_parse(model, &src, NULL, 0) == GR_OK;
    if ((s = gr_cache_open(opts ? opts->cache_dir : NULL, &c, err, errlen))) return s;
    /* a cached entry by its name (or sha256 prefix, or a name that is not a valid spec) */
    if (gr_cache_find(&c, by_name ? src.name : model, &m, NULL, 0) == GR_OK && gr_cache_entry_ok(&c, &m)) {
        char blob[GR_CACHE_PATH_MAX];
        gr_cache_blob_path(&c, m.sha256, blob, sizeof blob);
        return copy_path(blob, path, cap, err, errlen);
    }
    if (!by_name) {
        return gr_err(GR_E_NOT_FOUND, err, errlen, "'%s' is neither a file, a cache entry nor a model "
                      "name gemrun can pull", model);
    }
    if (!allow_download || gr_pull_offline(opts))
        return gr_err(GR_E_UNAVAILABLE, err, errlen, "model '%s' is not in the cache (%s)%s: run "
                      "'gemrun pull %s'", src.name, c.root,
                      gr_pull_offline(opts) ? " and offline mode is on" : "", src.name);
    gr_pull_info info;
    if ((s = gr_pull_run(model, opts, cancel, &info, err, errlen))) return s;
    return copy_path(info.path, path, cap, err, errlen);
}

char *gr_models_json(const char *cache_dir, char *err, size_t errlen) {
    gr_cache c;
    gr_manifest *all = NULL;
    size_t n = 0;
    if (gr_cache_open(cache_dir, &c, err, errlen) || gr_cache_list(&c, &all, &n, err, errlen)) return NULL;
    gr_jw w;
    gr_jw_init(&w);
    gr_jw_arr(&w);
    for (size_t i = 0; i < n; i++) {
        char blob[GR_CACHE_PATH_MAX];
        gr_cache_blob_path(&c, all[i].sha256, blob, sizeof blob);
        gr_jw_obj(&w);
        gr_jw_key(&w, "name"), gr_jw_str(&w, all[i].name);
        gr_jw_key(&w, "size"), gr_jw_int(&w, (int64_t)all[i].size);
        gr_jw_key(&w, "sha256"), gr_jw_str(&w, all[i].sha256);
        gr_jw_key(&w, "sha256_from"), gr_jw_str(&w, all[i].sha256_from);
        gr_jw_key(&w, "source"), gr_jw_str(&w, all[i].source);
        gr_jw_key(&w, "revision"), gr_jw_str(&w, all[i].revision);
        gr_jw_key(&w, "created"), gr_jw_int(&w, all[i].created);
        gr_jw_key(&w, "path"), gr_jw_str(&w, blob);
        gr_jw_key(&w, "ok"), gr_jw_bool(&w, gr_cache_entry_ok(&c, &all[i]));
        gr_jw_end(&w);
    }
    gr_jw_end(&w);
    free(all);
    char *out = gr_jw_take(&w, NULL);
    if (!out) gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    return out;
}

gr_status gr_model_remove(const char *name, const char *cache_dir, char *err, size_t errlen) {
    if (!name || !*name) return gr_err(GR_E_INVALID_ARG, err, errlen, "no model name");
    gr_cache c;
    gr_status s = gr_cache_open(cache_dir, &c, err, errlen);
    if (s) return s;
    gr_pull_source src;
    if (gr_pull_source_parse(name, &src, NULL, 0) == GR_OK) { /* canonical name first */
        gr_manifest m;
        if (gr_manifest_read(&c, src.name, &m, NULL, 0) == GR_OK) name = src.name;
    }
    return gr_cache_remove(&c, name, NULL, err, errlen);
}
