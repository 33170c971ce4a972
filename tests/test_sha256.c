/* test_sha256.c — SHA-256: the FIPS 180-4 / NIST example vectors, the portable and SHA-NI block
 * functions agree on every length 0..300 and on random split points, and a 5 MB random file hashes
 * to what coreutils' `sha256sum` prints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pull/sha256.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void hex_of(const void *d, size_t n, bool portable, char hex[65]) {
    gr_sha256 c = {.portable = portable};
    gr_sha256_init(&c);
    gr_sha256_update(&c, d, n);
    gr_sha256_final_hex(&c, hex);
}

static void test_vectors(void **st) {
    (void)st;
    static const struct {
        const char *msg, *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    for (int portable = 0; portable < 2; portable++)
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
            char hex[65];
            hex_of(v[i].msg, strlen(v[i].msg), portable, hex);
            assert_string_equal(hex, v[i].hex);
        }
}

static void test_million_a(void **st) {
    (void)st;
    char *a = malloc(1000000);
    assert_non_null(a);
    memset(a, 'a', 1000000);
    for (int portable = 0; portable < 2; portable++) {
        gr_sha256 c = {.portable = portable};
        gr_sha256_init(&c);
        for (size_t off = 0; off < 1000000; off += 999) /* odd chunks cross block edges */
            gr_sha256_update(&c, a + off, off + 999 <= 1000000 ? 999 : 1000000 - off);
        char hex[65];
        gr_sha256_final_hex(&c, hex);
        assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    }
    free(a);
}

static void test_paths_agree(void **st) {
    (void)st;
    uint8_t buf[4096];
    srand(7);
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)rand();
    for (size_t n = 0; n <= 300; n++) {
        char a[65], b[65];
        hex_of(buf, n, false, a);
        hex_of(buf, n, true, b);
        assert_string_equal(a, b);
    }
    for (int trial = 0; trial < 200; trial++) {
        size_t n = (size_t)rand() % sizeof buf, cut = n ? (size_t)rand() % n : 0;
        gr_sha256 c = {0};
        gr_sha256_init(&c);
        gr_sha256_update(&c, buf, cut);
        gr_sha256_update(&c, buf + cut, n - cut);
        char a[65], b[65];
        gr_sha256_final_hex(&c, a);
        hex_of(buf, n, true, b);
        assert_string_equal(a, b);
    }
    print_message("sha256: SHA-NI %s\n", gr_sha256_accelerated() ? "used" : "not available");
}

static void test_matches_sha256sum(void **st) {
    (void)st;
    char path[256], cmd[400], line[200];
    snprintf(path, sizeof path, "%s/test_sha256_%d.bin", GR_BINARY_DIR, (int)getpid());
    size_t n = 5u << 20;
    uint8_t *d = malloc(n);
    assert_non_null(d);
    srand(11);
    for (size_t i = 0; i < n; i++) d[i] = (uint8_t)(rand() >> 3);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(d, 1, n, f), n);
    fclose(f);
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof line, p));
    pclose(p);
    unlink(path);
    char hex[65];
    gr_sha256_hex(d, n, hex);
    assert_memory_equal(line, hex, 64);
    free(d);
}

static void test_is_hex(void **st) {
    (void)st;
    const char *good = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
    assert_true(gr_sha256_is_hex(good, 64));
    assert_false(gr_sha256_is_hex(good, 63));
    assert_false(gr_sha256_is_hex("g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 64));
    assert_false(gr_sha256_is_hex(NULL, 64));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),      cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_paths_agree),  cmocka_unit_test(test_matches_sha256sum),
        cmocka_unit_test(test_is_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
