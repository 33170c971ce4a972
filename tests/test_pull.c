/* test_pull.c — the parts of `gemrun pull` that need no network: model specs -> URLs and cache
 * names (HF_ENDPOINT, revisions, formats, bad input), manifests (round trip, damaged input), the
 * cache (write, list, find by sha256 prefix, shared blobs survive rm), the lock (a second holder
 * waits, cancel stops the wait), the GGUF header peek on a real synthetic file (every prefix
 * length either asks for more or finds the same header end) and the header check (architecture,
 * fit plan). Network behaviour is tested against a real server in tests/pull/pull.test.mjs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "model/synth.h"
#include "pull/cache.h"
#include "pull/check.h"
#include "pull/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[512];

static int setup(void **st) {
    (void)st;
    snprintf(g_dir, sizeof g_dir, "%s/test_pull_%d", GR_BINARY_DIR, (int)getpid());
    return 0;
}

static int teardown(void **st) {
    (void)st;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_sources(void **st) {
    (void)st;
    gr_pull_source s;
    char err[512];
    unsetenv("HF_ENDPOINT");
    assert_int_equal(gr_pull_source_parse("gemma-4-e2b-it", &s, err, sizeof err), GR_OK);
    assert_string_equal(s.name, "gemma-4-e2b-it");
    assert_string_equal(s.url, "https://huggingface.co/google/gemma-4-E2B-it-qat-q4_0-gguf/resolve/main/"
                               "gemma-4-E2B_q4_0-it.gguf");
    assert_true(s.hf && s.registry && s.quant == GR_QUANT_Q4_0);
    assert_int_equal(gr_pull_source_parse("gemma-4-e2b-it:q4_0", &s, err, sizeof err), GR_OK);
    assert_string_equal(s.name, "gemma-4-e2b-it"); /* the default format has the bare name */
    assert_int_equal(gr_pull_source_parse("gemma-4-e4b-it:q8_0", &s, err, sizeof err), GR_OK);
    assert_string_equal(s.name, "gemma-4-e4b-it:q8_0");
    assert_non_null(strstr(s.url, "unsloth/gemma-4-E4B-it-GGUF/resolve/main/gemma-4-E4B-it-Q8_0.gguf"));
    assert_int_equal(gr_pull_source_parse("gemma-4-31b-it:bf16", &s, err, sizeof err), GR_E_INVALID_ARG);
    assert_non_null(strstr(err, "OWNER/REPO/FILE"));
    assert_int_equal(gr_pull_source_parse("gemma-4-e2b-it:q5_0", &s, err, sizeof err), GR_E_INVALID_ARG);
    assert_int_equal(gr_pull_source_parse("gemma-9", &s, err, sizeof err), GR_E_INVALID_ARG);
    assert_non_null(strstr(err, "gemma-4-e2b-it"));

    setenv("HF_ENDPOINT", "http://127.0.0.1:9/", 1);
    assert_int_equal(gr_pull_source_parse("hf://me/my repo/sub/f.gguf@v1.0", &s, err, sizeof err), GR_OK);
    assert_string_equal(s.url, "http://127.0.0.1:9/me/my%20repo/resolve/v1.0/sub/f.gguf");
    assert_string_equal(s.name, "me/my repo/sub/f.gguf@v1.0");
    assert_int_equal(gr_pull_source_parse("me/repo/f.gguf", &s, err, sizeof err), GR_OK);
    assert_string_equal(s.name, "me/repo/f.gguf");
    unsetenv("HF_ENDPOINT");
    assert_int_equal(gr_pull_source_parse("me/repo", &s, err, sizeof err), GR_E_INVALID_ARG);
    assert_int_equal(gr_pull_source_parse("me/../x/f", &s, err, sizeof err), GR_E_INVALID_ARG);
    assert_int_equal(gr_pull_source_parse("ftp://x/y", &s, err, sizeof err), GR_E_INVALID_ARG);
    assert_int_equal(gr_pull_source_parse("", &s, err, sizeof err), GR_E_INVALID_ARG);

    assert_int_equal(gr_pull_source_parse("https://u:pw@example.com/a/b.gguf?sig=SECRET#x", &s, err, sizeof err), GR_OK);
    assert_false(s.hf);
    assert_string_equal(s.safe_url, "https://example.com/a/b.gguf");
    assert_string_equal(s.name, "https://example.com/a/b.gguf");
    assert_null(strstr(s.name, "SECRET"));
}

static gr_manifest sample(const char *name, char fill) {
    gr_manifest m = {0};
    snprintf(m.name, sizeof m.name, "%s", name);
    snprintf(m.source, sizeof m.source, "https://example.com/%s", name);
    memset(m.sha256, fill, 64);
    snprintf(m.sha256_from, sizeof m.sha256_from, "computed");
    snprintf(m.etag, sizeof m.etag, "\"x\"");
    m.size = 3;
    m.created = 1700000000;
    return m;
}

static void test_manifest_json(void **st) {
    (void)st;
    gr_manifest m = sample("gemma-4-e2b-it", 'a'), back;
    char *j = gr_manifest_to_json(&m);
    assert_non_null(j);
    char err[256];
    assert_int_equal(gr_manifest_parse(j, strlen(j), &back, err, sizeof err), GR_OK);
    assert_string_equal(back.name, m.name);
    assert_string_equal(back.sha256, m.sha256);
    assert_string_equal(back.etag, "\"x\"");
    assert_true(back.size == 3 && back.created == 1700000000);
    free(j);
    static const char *bad[] = {"", "[]", "{\"name\":\"x\"}",
                                "{\"name\":\"x\",\"source\":\"s\",\"sha256\":\"abc\",\"size\":1}",
                                "{\"name\":\"x\",\"source\":\"s\",\"sha256\":\"" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"size\":-1}",
                                "{\"name\":\"\",\"source\":\"s\",\"sha256\":\"" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"size\":1}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(gr_manifest_parse(bad[i], strlen(bad[i]), &back, err, sizeof err), GR_E_FORMAT);
}

static void write_blob(const gr_cache *c, const char *sha) {
    char p[GR_CACHE_PATH_MAX];
    gr_cache_blob_path(c, sha, p, sizeof p);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs("abc", f);
    fclose(f);
}

static void test_cache(void **st) {
    (void)st;
    gr_cache c;
    char err[512];
    assert_int_equal(gr_cache_open(g_dir, &c, err, sizeof err), GR_OK);
    gr_manifest a = sample("a/b/c.gguf", 'a'), b = sample("alias", 'a'), d = sample("other", 'd'), got;
    assert_int_equal(gr_manifest_read(&c, "a/b/c.gguf", &got, err, sizeof err), GR_E_NOT_FOUND);
    write_blob(&c, a.sha256);
    write_blob(&c, d.sha256);
    assert_int_equal(gr_manifest_write(&c, &a, err, sizeof err), GR_OK);
    assert_int_equal(gr_manifest_write(&c, &b, err, sizeof err), GR_OK);
    assert_int_equal(gr_manifest_write(&c, &d, err, sizeof err), GR_OK);
    assert_true(gr_cache_entry_ok(&c, &a));
    gr_manifest *all = NULL;
    size_t n = 0;
    assert_int_equal(gr_cache_list(&c, &all, &n, err, sizeof err), GR_OK);
    assert_int_equal(n, 3);
    assert_string_equal(all[0].name, "a/b/c.gguf"); /* sorted */
    free(all);
    assert_int_equal(gr_cache_find(&c, "dddddddd", &got, err, sizeof err), GR_OK);
    assert_string_equal(got.name, "other");
    assert_int_equal(gr_cache_find(&c, "aaaaaaaa", &got, err, sizeof err), GR_OK); /* one blob, 2 names */
    /* rm of one name keeps the blob the other name still uses */
    uint64_t freed = 1;
    assert_int_equal(gr_cache_remove(&c, "alias", &freed, err, sizeof err), GR_OK);
    assert_int_equal(freed, 0);
    assert_true(gr_cache_entry_ok(&c, &a));
    assert_int_equal(gr_cache_remove(&c, "a/b/c.gguf", &freed, err, sizeof err), GR_OK);
    assert_int_equal(freed, 3);
    assert_false(gr_cache_entry_ok(&c, &a));
    assert_int_equal(gr_cache_remove(&c, "nope", &freed, err, sizeof err), GR_E_NOT_FOUND);
    /* a damaged manifest is an error to read and skipped by list */
    char p[GR_CACHE_PATH_MAX];
    gr_cache_manifest_path(&c, "other", p, sizeof p);
    FILE *f = fopen(p, "wb");
    fputs("{\"name\":", f);
    fclose(f);
    assert_int_equal(gr_manifest_read(&c, "other", &got, err, sizeof err), GR_E_FORMAT);
    assert_int_equal(gr_cache_list(&c, &all, &n, err, sizeof err), GR_OK);
    assert_int_equal(n, 0);
    free(all);
    uint64_t fb = 0;
    assert_int_equal(gr_cache_free_bytes(g_dir, &fb, err, sizeof err), GR_OK);
    assert_true(fb > 0);
}

static int g_waited;
static void on_wait(void *u) { (void)u, g_waited++; }

static void test_lock(void **st) {
    (void)st;
    gr_cache c;
    char err[512];
    assert_int_equal(gr_cache_open(g_dir, &c, err, sizeof err), GR_OK);
    int fd1 = -1, fd2 = -1;
    assert_int_equal(gr_cache_lock(&c, "k", NULL, NULL, NULL, &fd1, err, sizeof err), GR_OK);
    gr_cancel cancel;
    gr_cancel_init(&cancel);
    cancel.deadline = gr_now() + 0.2; /* the second holder waits, then gives up at the deadline */
    g_waited = 0;
    assert_int_equal(gr_cache_lock(&c, "k", &cancel, on_wait, NULL, &fd2, err, sizeof err), GR_E_TIMEOUT);
    assert_int_equal(g_waited, 1);
    gr_cache_unlock(fd1);
    assert_int_equal(gr_cache_lock(&c, "k", &cancel, on_wait, NULL, &fd2, err, sizeof err), GR_OK);
    gr_cache_unlock(fd2);
}

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static void test_peek_and_check(void **st) {
    (void)st;
    char path[600], err[512];
    mkdir(g_dir, 0755);
    snprintf(path, sizeof path, "%s/tiny.gguf", g_dir);
    gr_synth_opts o = {.preset = "gemma4-e2b-tiny", .type = "q4_0", .n_vocab = 256, .seed = 1};
    assert_int_equal(gr_synth_write(&o, path, err, sizeof err), GR_OK);
    size_t n = 0;
    uint8_t *buf = read_all(path, &n);
    gr_gguf_peek full;
    assert_int_equal(gr_gguf_peek_scan(buf, n, &full, err, sizeof err), GR_OK);
    assert_true(full.complete && full.header > 24 && full.header < n);
    for (size_t len = 0; len <= full.header + 8; len++) { /* every prefix: more, or the same end */
        gr_gguf_peek p;
        assert_int_equal(gr_gguf_peek_scan(buf, len, &p, err, sizeof err), GR_OK);
        if (p.complete) assert_int_equal(p.header, full.header);
        else assert_true(p.need > len && p.need <= full.header);
        assert_true(p.complete == (len >= full.header));
    }
    gr_model_check mc = {.budget = 8ull << 30};
    gr_fit_plan plan;
    assert_int_equal(gr_model_check_header(buf, full.header, n, &mc, &plan, err, sizeof err), GR_OK);
    assert_true(plan.fits);
    mc.budget = 1ull << 30; /* below the 1.5 GiB reserve: does not fit */
    assert_int_equal(gr_model_check_header(buf, full.header, n, &mc, NULL, err, sizeof err), GR_E_UNSUPPORTED);
    assert_non_null(strstr(err, "does not fit"));
    mc.skip_fit = true;
    assert_int_equal(gr_model_check_header(buf, full.header, n, &mc, NULL, err, sizeof err), GR_OK);
    /* a size smaller than the tensors need */
    assert_int_equal(gr_model_check_header(buf, full.header, full.header + 1, &mc, NULL, err, sizeof err), GR_E_FORMAT);
    /* another architecture: rename the value of general.architecture in place */
    uint8_t *arch = memmem(buf, full.header, "gemma4", 6);
    assert_non_null(arch);
    memcpy(arch, "llama9", 6);
    assert_int_equal(gr_model_check_header(buf, full.header, n, &mc, NULL, err, sizeof err), GR_E_UNSUPPORTED);
    assert_non_null(strstr(err, "llama9"));
    buf[0] = 'X';
    gr_gguf_peek p;
    assert_int_equal(gr_gguf_peek_scan(buf, n, &p, err, sizeof err), GR_E_FORMAT);
    assert_non_null(strstr(err, "not a GGUF"));
    free(buf);
    /* hostile lengths: a string claiming 2^62 bytes */
    uint8_t evil[64] = {'G', 'G', 'U', 'F', 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    memset(evil + 24, 0xff, 8);
    evil[31] = 0x40;
    assert_int_equal(gr_gguf_peek_scan(evil, sizeof evil, &p, err, sizeof err), GR_E_FORMAT);
}

static void test_resolve(void **st) {
    (void)st;
    gr_cache c;
    char err[512], path[4096], want[GR_CACHE_PATH_MAX];
    assert_int_equal(gr_cache_open(g_dir, &c, err, sizeof err), GR_OK);
    gr_manifest m = sample("gemma-4-e2b-it", 'e');
    write_blob(&c, m.sha256);
    assert_int_equal(gr_manifest_write(&c, &m, err, sizeof err), GR_OK);
    gr_pull_opts o = {.cache_dir = g_dir};
    gr_cache_blob_path(&c, m.sha256, want, sizeof want);
    /* by registry name, by an explicit default format, by sha256 prefix */
    assert_int_equal(gr_model_resolve("gemma-4-e2b-it", 0, &o, path, sizeof path, err, sizeof err), GR_OK);
    assert_string_equal(path, want);
    assert_int_equal(gr_model_resolve("gemma-4-e2b-it:q4_0", 0, &o, path, sizeof path, err, sizeof err), GR_OK);
    assert_string_equal(path, want);
    assert_int_equal(gr_model_resolve("eeeeeeeeee", 0, &o, path, sizeof path, err, sizeof err), GR_OK);
    /* a file path is returned as is */
    assert_int_equal(gr_model_resolve(want, 0, &o, path, sizeof path, err, sizeof err), GR_OK);
    assert_string_equal(path, want);
    /* not cached, downloads not allowed / offline */
    assert_int_equal(gr_model_resolve("gemma-4-e4b-it", 0, &o, path, sizeof path, err, sizeof err),
                     GR_E_UNAVAILABLE);
    assert_non_null(strstr(err, "gemma-4-e4b-it"));
    o.offline = 1;
    assert_int_equal(gr_model_resolve("gemma-4-e4b-it", 1, &o, path, sizeof path, err, sizeof err),
                     GR_E_UNAVAILABLE);
    assert_non_null(strstr(err, "offline"));
    char *json = gr_models_json(g_dir, err, sizeof err);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"name\":\"gemma-4-e2b-it\""));
    gr_free(json);
    assert_int_equal(gr_model_remove("gemma-4-e2b-it", g_dir, err, sizeof err), GR_OK);
    assert_int_equal(gr_model_resolve("gemma-4-e2b-it", 0, &o, path, sizeof path, err, sizeof err),
                     GR_E_UNAVAILABLE);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sources),
        cmocka_unit_test(test_manifest_json),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_lock),
        cmocka_unit_test(test_peek_and_check),
        cmocka_unit_test(test_resolve),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
