/* pull.c — orchestrates one pull (see pull.h): the fit plan before a byte moves (registry ids), the
 * per-URL lock, reuse of finished entries, the download with its early header check, and the
 * commit under the cache lock. It must not parse HTTP or hash bytes itself. */
#include "pull/pull.h"

#include "core/error.h"
#include "layer/plan.h"
#include "layer/probe.h"
#include "layer/registry.h"
#include "pull/cache.h"
#include "pull/check.h"
#include "pull/download.h"
#include "pull/source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int gr_pull_offline(const gr_pull_opts *o) {
    if (o && o->offline) return 1;
    const char *v = getenv("GEMRUN_OFFLINE");
    return v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes"));
}

static uint64_t budget_of(const gr_pull_opts *o) {
    if (o && o->memory_bytes) return o->memory_bytes;
    gr_probe p;
    return gr_probe_run(&p, NULL, NULL, 0) == GR_OK ? p.ram_available : 0;
}

gr_status gr_pull_auto_spec(const gr_pull_opts *o, char *spec, size_t cap, char *err, size_t errlen) {
    gr_plan_opts po = gr_plan_default_opts();
    po.budget = budget_of(o);
    if (!po.budget) return gr_err(GR_E_UNAVAILABLE, err, errlen, "cannot tell this machine's memory: name a model");
    gr_fit_plan p;
    gr_status s = gr_plan_select(&po, &p, err, errlen);
    if (s) return s;
    if (!p.fits) return gr_err(GR_E_UNAVAILABLE, err, errlen, "no local model fits this machine: %s", p.reason);
    snprintf(spec, cap, "%s:%s", p.model_id, gr_quant_name(p.quant));
    return GR_OK;
}

/* ---- progress: rate and ETA over a sliding window ------------------------------------------ */

typedef struct prog {
    const gr_pull_opts *o;
    const char *name;
    double t0, win_t;       /* window start */
    uint64_t win_bytes;     /* received at window start */
    double rate;
} prog;

static int emit(prog *pg, const char *phase, uint64_t done, uint64_t total, uint64_t received,
                int attempt, const char *msg) {
    if (!pg->o || !pg->o->progress) return 0;
    double now = gr_now();
    if (now - pg->win_t >= 1.0) { /* a 1 s window, blended with the previous rate */
        double r = (double)(received - pg->win_bytes) / (now - pg->win_t);
        pg->rate = pg->rate > 0 ? 0.5 * pg->rate + 0.5 * r : r;
        pg->win_t = now, pg->win_bytes = received;
    } else if (pg->rate <= 0 && now - pg->t0 > 0.2) {
        pg->rate = (double)(received - pg->win_bytes) / (now - pg->win_t);
    }
    gr_pull_progress p = {pg->name, phase, done, total, received, pg->rate, -1, attempt, msg};
    if (total && pg->rate > 0 && done <= total) p.eta_s = (double)(total - done) / pg->rate;
    return pg->o->progress(pg->o->user, &p);
}

static int on_dl_progress(void *user, const gr_dl_progress *p) {
    return emit(user, p->phase, p->done, p->total, p->received, p->attempt, p->message);
}

static void on_wait(void *user) {
    prog *pg = user;
    emit(pg, "wait", 0, 0, 0, 0, "another gemrun pull of this model is running: waiting for it");
}

typedef struct check_ctx {
    uint64_t budget;
} check_ctx;

static gr_status on_check(void *user, const void *prefix, size_t len, uint64_t total, char *err,
                          size_t errlen) {
    check_ctx *c = user;
    gr_model_check mc = {.budget = c->budget};
    return gr_model_check_header(prefix, len, total, &mc, NULL, err, errlen);
}

/* ---- steps ----------------------------------------------------------------------------------- */

static bool reuse(const gr_cache *c, const gr_pull_source *src, const gr_pull_opts *o, gr_pull_info *info) {
    gr_manifest m;
    if (gr_manifest_read(c, src->name, &m, NULL, 0) != GR_OK || !gr_cache_entry_ok(c, &m)) return false;
    if (o && o->sha256 && *o->sha256 && strcasecmp(o->sha256, m.sha256)) return false;
    gr_cache_blob_path(c, m.sha256, info->path, sizeof info->path);
    snprintf(info->sha256, sizeof info->sha256, "%s", m.sha256);
    snprintf(info->sha256_from, sizeof info->sha256_from, "%s", m.sha256_from);
    info->size = m.size;
    info->cached = 1;
    return true;
}

/* Registry ids: plan with the table's profile before downloading anything. */
static gr_status plan_first(const gr_pull_source *src, uint64_t budget, char *err, size_t errlen) {
    gr_model_profile prof;
    if (!src->registry || !budget || gr_registry_get(src->registry_id, &prof, NULL, 0) != GR_OK) return GR_OK;
    gr_plan_opts po = gr_plan_default_opts();
    po.budget = budget;
    po.quant = src->quant;
    gr_fit_plan p;
    char perr[256];
    gr_status s = gr_plan_for_profile(&prof, &po, &p, perr, sizeof perr);
    if (s == GR_E_INVALID_ARG) /* a budget below the reserve */
        return gr_err(GR_E_UNSUPPORTED, err, errlen, "%s does not fit this machine: %s", src->name, perr);
    if (s) return gr_err(s, err, errlen, "%s", perr);
    if (p.fits) return GR_OK;
    return gr_err(GR_E_UNSUPPORTED, err, errlen, "%s does not fit this machine: %s (pass --no-check "
                  "to download anyway)", src->name, p.reason);
}

/* Move the verified partial into blobs/ and write the manifest, under the cache lock. */
static gr_status commit(const gr_cache *c, const gr_pull_source *src, const char *part,
                        const char *state, const gr_dl_result *r, gr_pull_info *info, char *err,
                        size_t errlen) {
    int fd = -1;
    gr_status s = gr_cache_lock(c, "cache", NULL, NULL, NULL, &fd, err, errlen);
    if (s) return s;
    gr_cache_blob_path(c, r->sha256, info->path, sizeof info->path);
    struct stat st;
    if (stat(info->path, &st) == 0 && (uint64_t)st.st_size == r->size) unlink(part); /* same bytes */
    else if (rename(part, info->path) != 0)
        s = gr_err(GR_E_IO, err, errlen, "cannot move %s to %s: %s", part, info->path, strerror(errno));
    if (!s) unlink(state); /* on failure the verified partial stays resumable */
    gr_manifest m = {0};
    snprintf(m.name, sizeof m.name, "%s", src->name);
    snprintf(m.source, sizeof m.source, "%s", src->safe_url);
    snprintf(m.revision, sizeof m.revision, "%s", r->revision);
    snprintf(m.etag, sizeof m.etag, "%s", r->etag);
    snprintf(m.sha256, sizeof m.sha256, "%s", r->sha256);
    snprintf(m.sha256_from, sizeof m.sha256_from, "%s", r->sha256_from);
    m.size = r->size;
    m.created = (int64_t)time(NULL);
    if (!s) s = gr_manifest_write(c, &m, err, errlen);
    gr_cache_unlock(fd);
    return s;
}

static void fill_info(gr_pull_info *info, const gr_dl_result *r) {
    snprintf(info->sha256, sizeof info->sha256, "%s", r->sha256);
    snprintf(info->sha256_from, sizeof info->sha256_from, "%s", r->sha256_from);
    info->size = r->size;
    info->resumed_from = r->resumed_from;
    info->received = r->received;
    info->rewritten = r->rewritten;
    info->attempts = r->attempts, info->restarts = r->restarts, info->repairs = r->repairs;
}

static gr_status fetch(const gr_cache *c, const gr_pull_source *src, const gr_pull_opts *o,
                       gr_cancel *cancel, uint64_t budget, prog *pg, gr_pull_info *info, char *err,
                       size_t errlen) {
    char key[33], part[GR_CACHE_PATH_MAX], state[GR_CACHE_PATH_MAX], auth[1200];
    gr_cache_key(src->url, key);
    gr_cache_partial_path(c, key, ".part", part, sizeof part);
    gr_cache_partial_path(c, key, ".json", state, sizeof state);
    gr_http_header hdr[1];
    size_t nh = 0;
    const char *tok = getenv("HF_TOKEN");
    if (src->hf && tok && *tok && strlen(tok) < 1000) {
        snprintf(auth, sizeof auth, "Bearer %s", tok);
        hdr[nh++] = (gr_http_header){"Authorization", auth};
    }
    check_ctx cc = {budget};
    bool check = !(o && o->no_check);
    gr_dl_opts d = {.url = src->url, .safe_url = src->safe_url, .headers = hdr, .n_headers = nh,
                    .part_path = part, .state_path = state,
                    .expected_sha256 = o ? o->sha256 : NULL, .max_retries = o ? o->max_retries : 0,
                    .idle_timeout_s = o ? o->idle_timeout_s : 0, .cancel = cancel,
                    .progress = on_dl_progress, .progress_user = pg,
                    .check = check ? on_check : NULL, .check_user = &cc};
    if (!check) cc.budget = 0;
    char what[sizeof src->name + sizeof src->safe_url + sizeof c->root + 64];
    if (strcmp(src->name, src->safe_url))
        snprintf(what, sizeof what, "downloading %s from %s into %s", src->name, src->safe_url, c->root);
    else
        snprintf(what, sizeof what, "downloading %s into %s", src->safe_url, c->root);
    emit(pg, "start", 0, 0, 0, 0, what);
    gr_dl_result r;
    gr_status s = gr_download(&d, &r, err, errlen);
    explicit_bzero(auth, sizeof auth);
    fill_info(info, &r);
    if (s) return s;
    s = commit(c, src, part, state, &r, info, err, errlen);
    if (!s) emit(pg, "done", r.size, r.size, r.received, r.attempts, NULL);
    return s;
}

static gr_status pull_source(const gr_pull_source *src, const gr_pull_opts *o, gr_cancel *cancel,
                             gr_pull_info *info, char *err, size_t errlen) {
    gr_cache c;
    gr_status s = gr_cache_open(o ? o->cache_dir : NULL, &c, err, errlen);
    if (s) return s;
    if (reuse(&c, src, o, info)) return GR_OK;
    if (gr_pull_offline(o))
        return gr_err(GR_E_UNAVAILABLE, err, errlen, "model '%s' is not in the cache (%s) and offline "
                      "mode is on (--offline / GEMRUN_OFFLINE=1): run 'gemrun pull %s' when online",
                      src->name, c.root, src->name);
    bool check = !(o && o->no_check);
    uint64_t budget = check ? budget_of(o) : 0;
    if (check && (s = plan_first(src, budget, err, errlen))) return s;
    prog pg = {.o = o, .name = src->name, .t0 = gr_now(), .win_t = gr_now()};
    char key[33];
    gr_cache_key(src->url, key);
    int fd = -1;
    if ((s = gr_cache_lock(&c, key, cancel, on_wait, &pg, &fd, err, errlen))) return s;
    if (!reuse(&c, src, o, info)) /* the pull we waited for may have finished it */
        s = fetch(&c, src, o, cancel, budget, &pg, info, err, errlen);
    gr_cache_unlock(fd);
    return s;
}

gr_status gr_pull_run(const char *model, const gr_pull_opts *o, gr_cancel *cancel, gr_pull_info *info,
                      char *err, size_t errlen) {
    gr_pull_info scratch;
    if (!info) info = &scratch;
    memset(info, 0, sizeof *info);
    char spec[128];
    gr_status s = GR_OK;
    if (!model || !*model) {
        if ((s = gr_pull_auto_spec(o, spec, sizeof spec, err, errlen))) return s;
        model = spec;
    }
    gr_pull_source src;
    if ((s = gr_pull_source_parse(model, &src, err, errlen))) return s;
    snprintf(info->name, sizeof info->name, "%s", src.name);
    return pull_source(&src, o, cancel, info, err, errlen);
}
