/* test_server_parse.c — the server's request parsers without HTTP: Gemini bodies (roles, system
 * instruction, snake_case, generationConfig ranges, responseSchema -> JSON Schema conversion,
 * unsupported parts), countTokens bodies, OpenAI bodies (system folding, parts, response_format,
 * stop, length aliases), model paths, and the "local" / "server" configuration sections. Every
 * rejection must name the field. The HTTP side is tested by tests/serve/ (node). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "server/srv.h"

#include <stdio.h>
#include <string.h>

static void gemini_ok(const char *body, srv_gen *g) {
    char err[300] = "";
    if (srv_gemini_parse(body, strlen(body), g, err, sizeof err) != GR_OK)
        fail_msg("rejected: %s", err);
}

static void expect_error(gr_status (*fn)(const char *, size_t, srv_gen *, char *, size_t),
                         const char *body, const char *part) {
    srv_gen g;
    char err[300] = "";
    gr_status s = fn(body, strlen(body), &g, err, sizeof err);
    srv_gen_free(&g);
    if (s != GR_E_INVALID_ARG) fail_msg("accepted (%d): %s", s, body);
    if (!strstr(err, part)) fail_msg("error \"%s\" lacks \"%s\"", err, part);
}

static void test_gemini_conversation(void **state) {
    (void)state;
    srv_gen g;
    gemini_ok(
        "{\"system_instruction\":{\"role\":\"user\",\"parts\":[{\"text\":\"Be "
        "\"},{\"text\":\"brief.\"}]},"
        "\"contents\":[{\"parts\":[{\"text\":\"Hi\"}]},{\"role\":\"model\",\"parts\":[{\"text\":"
        "\"Hello\"},"
        "{\"text\":\"secret\",\"thought\":true}]},{\"role\":\"user\",\"parts\":{\"text\":\"Go\"}}],"
        "\"safetySettings\":[{\"category\":\"x\",\"threshold\":\"y\"}]}",
        &g);
    assert_int_equal(g.req.n_messages, 4);
    assert_int_equal(g.req.messages[0].role, GR_ROLE_SYSTEM);
    assert_string_equal(g.req.messages[0].text, "Be brief.");
    assert_int_equal(g.req.messages[1].role, GR_ROLE_USER);
    assert_int_equal(g.req.messages[2].role, GR_ROLE_MODEL);
    assert_string_equal(g.req.messages[2].text, "Hello"); /* the thought part is not resent */
    assert_string_equal(g.req.messages[3].text, "Go");
    assert_int_equal(g.req.output.kind, GR_OUTPUT_TEXT);
    assert_true(g.req.sampling.temperature < 0); /* engine default */
    srv_gen_free(&g);
}

static void test_gemini_generation_config(void **state) {
    (void)state;
    srv_gen g;
    gemini_ok(
        "{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}],\"generationConfig\":{\"temperature\":0,"
        "\"topK\":5,\"top_p\":0.5,\"seed\":0,\"maxOutputTokens\":7.0,\"stopSequences\":[\"\\n\\n\","
        "\"END\"],"
        "\"candidateCount\":1}}",
        &g);
    assert_true(g.req.sampling.temperature == 0.0f);
    assert_int_equal(g.req.sampling.top_k, 5);
    assert_true(g.req.sampling.top_p == 0.5f);
    assert_true(g.req.sampling.seed != 0); /* seed 0 is a fixed seed, not "engine picks" */
    assert_int_equal(g.req.max_tokens, 7);
    assert_int_equal(g.req.n_stop, 2);
    assert_string_equal(g.req.stop[1], "END");
    srv_gen_free(&g);
}

static void test_gemini_schema(void **state) {
    (void)state;
    srv_gen g;
    gemini_ok(
        "{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}],\"generationConfig\":{\"responseMimeType\":"
        "\"application/json\",\"responseSchema\":{\"type\":\"OBJECT\",\"propertyOrdering\":[\"a\"],"
        "\"properties\":{\"a\":{\"type\":\"STRING\",\"nullable\":true},\"b\":{\"type\":\"ARRAY\","
        "\"items\":{\"type\":\"INTEGER\"}}},\"required\":[\"a\"]}}}",
        &g);
    assert_int_equal(g.req.output.kind, GR_OUTPUT_JSON_SCHEMA);
    assert_string_equal(
        g.req.output.schema,
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":[\"string\",\"null\"]},"
        "\"b\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}},\"required\":[\"a\"]}");
    srv_gen_free(&g);
    gemini_ok(
        "{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}],\"generationConfig\":{\"responseMimeType\":"
        "\"application/json\"}}",
        &g);
    assert_int_equal(g.req.output.kind, GR_OUTPUT_JSON);
    srv_gen_free(&g);
    gemini_ok(
        "{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}],\"generationConfig\":{\"responseMimeType\":"
        "\"application/json\",\"responseJsonSchema\":{\"type\":\"object\",\"nullable\":true}}}",
        &g);
    assert_string_equal(g.req.output.schema,
                        "{\"type\":\"object\",\"nullable\":true}"); /* as given */
    srv_gen_free(&g);
}

static void test_gemini_errors(void **state) {
    (void)state;
    expect_error(srv_gemini_parse, "{\"contents\": [", "invalid JSON payload");
    expect_error(srv_gemini_parse, "[]", "JSON object");
    expect_error(srv_gemini_parse, "{}", "contents: required");
    expect_error(srv_gemini_parse, "{\"contents\":[]}", "contents: must not be empty");
    expect_error(srv_gemini_parse,
                 "{\"contents\":[{\"role\":\"system\",\"parts\":[{\"text\":\"x\"}]}]}",
                 "contents[0].role");
    expect_error(srv_gemini_parse,
                 "{\"contents\":[{\"parts\":[{\"inlineData\":{\"mimeType\":\"image/"
                 "png\",\"data\":\"AA\"}}]}]}",
                 "contents[0].parts[0].inlineData: the bytes are not a png image");
    expect_error(srv_gemini_parse,
                 "{\"contents\":[{\"parts\":[{\"inlineData\":{\"mimeType\":\"image/"
                 "png\",\"data\":\"iVBO$RKGgo\"}}]}]}",
                 "data is not valid base64");
    expect_error(srv_gemini_parse, "{\"contents\":[{\"parts\":[{\"text\":1}]}]}",
                 "contents[0].parts[0].text");
    expect_error(
        srv_gemini_parse,
        "{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}],\"generationConfig\":{\"temperature\":3}}",
        "generationConfig.temperature: 3 is out of range");
    expect_error(
        srv_gemini_parse,
        "{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}],\"generationConfig\":{\"topK\":1.5}}",
        "generationConfig.topK: expected an integer");
    expect_error(srv_gemini_parse,
                 "{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}],\"generationConfig\":{"
                 "\"candidateCount\":2}}",
                 "candidateCount");
    expect_error(srv_gemini_parse,
                 "{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}],\"generationConfig\":{"
                 "\"stopSequences\":[\"\"]}}",
                 "stopSequences");
    expect_error(srv_gemini_parse,
                 "{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}],\"generationConfig\":{"
                 "\"responseSchema\":{\"type\":\"OBJECT\"}}}",
                 "needs responseMimeType");
    expect_error(srv_gemini_parse,
                 "{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}],\"generationConfig\":{"
                 "\"responseMimeType\":\"text/x.enum\"}}",
                 "responseMimeType");
    expect_error(
        srv_gemini_parse,
        "{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}],\"tools\":[{\"functionDeclarations\":[]}]}",
        "tools");
    expect_error(srv_gemini_parse_count,
                 "{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}],\"generateContentRequest\":{}}",
                 "mutually exclusive");
}

static void test_count_tokens_body(void **state) {
    (void)state;
    srv_gen g;
    char err[200];
    const char *b = "{\"generateContentRequest\":{\"model\":\"models/"
                    "chat\",\"contents\":[{\"parts\":[{\"text\":\"hi\"}]}]}}";
    assert_int_equal(srv_gemini_parse_count(b, strlen(b), &g, err, sizeof err), GR_OK);
    assert_int_equal(g.req.n_messages, 1);
    srv_gen_free(&g);
}

static void test_openai(void **state) {
    (void)state;
    srv_gen g;
    char err[300] = "";
    const char *b =
        "{\"model\":\"chat\",\"messages\":[{\"role\":\"system\",\"content\":\"A\"},{\"role\":"
        "\"user\","
        "\"content\":[{\"type\":\"text\",\"text\":\"x\"},{\"type\":\"text\",\"text\":\"y\"}]},"
        "{\"role\":\"developer\",\"content\":\"B\"},{\"role\":\"assistant\",\"content\":null},"
        "{\"role\":\"user\",\"content\":\"z\"}],\"stream\":true,\"stream_options\":{\"include_"
        "usage\":true},"
        "\"max_tokens\":9,\"max_completion_tokens\":5,\"stop\":\"END\",\"temperature\":null,"
        "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"n\",\"schema\":{"
        "\"type\":\"object\"}}}}";
    if (srv_openai_parse(b, strlen(b), &g, err, sizeof err)) fail_msg("%s", err);
    assert_string_equal(g.model, "chat");
    assert_true(g.stream && g.include_usage);
    assert_int_equal(g.req.n_messages, 4);
    assert_int_equal(g.req.messages[0].role, GR_ROLE_SYSTEM);
    assert_string_equal(g.req.messages[0].text, "A\n\nB"); /* system + developer folded, in order */
    assert_string_equal(g.req.messages[1].text, "x\ny");
    assert_int_equal(g.req.messages[2].role, GR_ROLE_MODEL);
    assert_string_equal(g.req.messages[2].text, "");
    assert_int_equal(g.req.max_tokens, 5); /* max_completion_tokens wins */
    assert_int_equal(g.req.n_stop, 1);
    assert_int_equal(g.req.output.kind, GR_OUTPUT_JSON_SCHEMA);
    assert_string_equal(g.req.output.schema, "{\"type\":\"object\"}");
    srv_gen_free(&g);
    expect_error(srv_openai_parse, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                 "model: required");
    expect_error(srv_openai_parse,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}",
                 "messages[0].role");
    expect_error(srv_openai_parse,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}",
                 "at least one user message");
    expect_error(srv_openai_parse,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_"
                 "url\"}]}]}",
                 "messages[0].content[0].image_url.url: required");
    expect_error(srv_openai_parse,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_"
                 "audio\"}]}]}",
                 "messages[0].content[0]: only text and image_url");
    expect_error(srv_openai_parse,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"image_"
                 "url\",\"image_url\":\"data:image/png;base64,iVBORw0KGgo=\"}]},{\"role\":\"user\","
                 "\"content\":\"x\"}]}",
                 "images are not allowed here");
    expect_error(srv_openai_parse,
                 "{\"model\":\"m\",\"n\":2,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                 "n: 2");
    expect_error(srv_openai_parse,
                 "{\"model\":\"m\",\"response_format\":{\"type\":\"xml\"},\"messages\":[{\"role\":"
                 "\"user\",\"content\":\"x\"}]}",
                 "response_format.type");
}

static void test_model_paths(void **state) {
    (void)state;
    char m[64], meth[32];
    assert_int_equal(
        srv_parse_model_path("/v1beta/models/chat:generateContent", m, sizeof m, meth, sizeof meth),
        GR_OK);
    assert_string_equal(m, "chat");
    assert_string_equal(meth, "generateContent");
    assert_int_equal(
        srv_parse_model_path("/v1/models/gemma-3:4b:countTokens", m, sizeof m, meth, sizeof meth),
        GR_OK);
    assert_string_equal(m, "gemma-3:4b"); /* the method is after the last colon */
    assert_int_equal(srv_parse_model_path("/models/models/x", m, sizeof m, meth, sizeof meth),
                     GR_OK);
    assert_string_equal(m, "x");
    assert_string_equal(meth, "");
    assert_int_equal(srv_parse_model_path("/v1beta/tunedModels/t:streamGenerateContent", m,
                                          sizeof m, meth, sizeof meth),
                     GR_OK);
    assert_int_equal(srv_parse_model_path("/v1beta/models/", m, sizeof m, meth, sizeof meth),
                     GR_E_NOT_FOUND);
    assert_int_equal(srv_parse_model_path("/v1beta/models/a/b:x", m, sizeof m, meth, sizeof meth),
                     GR_E_NOT_FOUND);
    assert_int_equal(srv_parse_model_path("/v1beta/other/x", m, sizeof m, meth, sizeof meth),
                     GR_E_NOT_FOUND);
    assert_int_equal(srv_parse_model_path("/v1beta/models/chat:", m, sizeof m, meth, sizeof meth),
                     GR_E_NOT_FOUND);
}

static void test_config_sections(void **state) {
    (void)state;
    gr_server_config c;
    gr_server_config_init(&c);
    char *owned = NULL, err[300] = "";
    const char *j =
        "{\"features\":{\"chat\":\"local\"},\"cloud\":{\"anything\":1},"
        "\"local\":{\"model\":\"/m.gguf\",\"ctx\":2048,\"threads\":3,\"runtime_check\":false},"
        "\"server\":{\"port\":0,\"queue_size\":5,\"request_timeout_s\":2.5,\"cors_origin\":\"*\"}}";
    if (gr_server_config_parse(j, strlen(j), &c, &owned, err, sizeof err)) fail_msg("%s", err);
    assert_string_equal(c.model_path, "/m.gguf");
    assert_int_equal(c.n_ctx, 2048);
    assert_int_equal(c.n_threads, 3);
    assert_false(c.runtime_check);
    assert_int_equal(c.port, 0);
    assert_int_equal(c.queue_size, 5);
    assert_true(c.request_timeout_s == 2.5);
    assert_string_equal(c.cors_origin, "*");
    assert_string_equal(c.host, "127.0.0.1"); /* default kept */
    free(owned);
    static const struct {
        const char *json, *part;
    } bad[] = {
        {"{\"local\":{\"modle\":\"x\"}}", "local.modle: unknown key"},
        {"{\"local\":{\"threads\":0}}", "local.threads: 0 is out of range"},
        {"{\"local\":{\"ctx\":1.5}}", "local.ctx: expected an integer"},
        {"{\"server\":{\"port\":\"80\"}}", "server.port: expected a number"},
        {"{\"server\":{\"access_log\":1}}", "server.access_log: expected a boolean"},
        {"{\"server\":{\"api_key_env\":\"GEMRUN_TEST_SURELY_UNSET_VAR\"}}",
         "GEMRUN_TEST_SURELY_UNSET_VAR is not set"},
        {"{\"server\":[]}", "server: expected an object"},
        {"[1]", "expected a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gr_server_config_init(&c);
        err[0] = 0;
        if (gr_server_config_parse(bad[i].json, strlen(bad[i].json), &c, &owned, err, sizeof err) !=
            GR_E_INVALID_ARG)
            fail_msg("accepted %s", bad[i].json);
        if (!strstr(err, bad[i].part)) fail_msg("error \"%s\" lacks \"%s\"", err, bad[i].part);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemini_conversation), cmocka_unit_test(test_gemini_generation_config),
        cmocka_unit_test(test_gemini_schema),       cmocka_unit_test(test_gemini_errors),
        cmocka_unit_test(test_count_tokens_body),   cmocka_unit_test(test_openai),
        cmocka_unit_test(test_model_paths),         cmocka_unit_test(test_config_sections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
