/* write.c — the JSON the server answers with: Gemini GenerateContentResponse (also one streamed
 * chunk), OpenAI chat.completion and chat.completion.chunk, both APIs' error bodies, and the
 * "gemrun" field (engine, model, feature, route reason, timings) every generation carries.
 * Built with the core JSON writer, so every string is escaped. It must not do I/O. */
#include "server/srv.h"

#include <string.h>

static char *take(gr_jw *w) {
    char *s = gr_jw_take(w, NULL);
    gr_jw_free(w);
    return s;
}

const char *srv_gemini_status_name(int http) {
    switch (http) {
    case 400:
        return "INVALID_ARGUMENT";
    case 401:
        return "UNAUTHENTICATED";
    case 403:
        return "PERMISSION_DENIED";
    case 404:
        return "NOT_FOUND";
    case 405:
        return "METHOD_NOT_ALLOWED";
    case 408:
        return "DEADLINE_EXCEEDED";
    case 409:
        return "ABORTED";
    case 413:
        return "INVALID_ARGUMENT";
    case 415:
        return "INVALID_ARGUMENT";
    case 429:
        return "RESOURCE_EXHAUSTED";
    case 499:
        return "CANCELLED";
    case 501:
        return "UNIMPLEMENTED";
    case 502:
        return "INVALID_OUTPUT"; /* only structured-output failures answer 502 */
    case 503:
        return "UNAVAILABLE";
    case 504:
        return "DEADLINE_EXCEEDED";
    default:
        return http >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
    }
}

const char *srv_openai_type(int http) {
    switch (http) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 429:
        return "rate_limit_error";
    case 502:
        return "invalid_output_error";
    case 503:
        return "unavailable_error";
    default:
        return http >= 500 ? "server_error" : "invalid_request_error";
    }
}

int srv_http_for_status(gr_status s) {
    switch (s) {
    case GR_OK:
        return 200;
    case GR_E_INVALID_ARG:
    case GR_E_FORMAT:
    case GR_E_CONTEXT_FULL:
    case GR_E_UNSUPPORTED:
        return 400;
    case GR_E_NOT_FOUND:
        return 404;
    case GR_E_CANCELLED:
        return 499;
    case GR_E_TIMEOUT:
        return 504;
    case GR_E_BUSY:
    case GR_E_UNAVAILABLE:
        return 503;
    case GR_E_RATE_LIMITED:
        return 429;
    case GR_E_INVALID_OUTPUT:
        return 502;
    case GR_E_AUTH:
    case GR_E_NETWORK:
    case GR_E_UPSTREAM:
        return 503; /* the cloud behind us failed: the service is unavailable */
    default:
        return 500;
    }
}

char *srv_gemini_error_body(int http, const char *message) {
    gr_jw w;
    gr_jw_init(&w);
    gr_jw_obj(&w);
    gr_jw_key(&w, "error");
    gr_jw_obj(&w);
    gr_jw_key(&w, "code");
    gr_jw_int(&w, http);
    gr_jw_key(&w, "message");
    gr_jw_str(&w, message);
    gr_jw_key(&w, "status");
    gr_jw_str(&w, srv_gemini_status_name(http));
    gr_jw_end(&w);
    gr_jw_end(&w);
    return take(&w);
}

char *srv_openai_error_body(int http, const char *message, const char *code) {
    gr_jw w;
    gr_jw_init(&w);
    gr_jw_obj(&w);
    gr_jw_key(&w, "error");
    gr_jw_obj(&w);
    gr_jw_key(&w, "message");
    gr_jw_str(&w, message);
    gr_jw_key(&w, "type");
    gr_jw_str(&w, srv_openai_type(http));
    gr_jw_key(&w, "param");
    gr_jw_null(&w);
    gr_jw_key(&w, "code");
    gr_jw_str(&w, code);
    gr_jw_end(&w);
    gr_jw_end(&w);
    return take(&w);
}

void srv_write_gemrun(gr_jw *w, const srv_route_info *ri, const gr_result *r) {
    gr_jw_key(w, "gemrun");
    gr_jw_obj(w);
    gr_jw_key(w, "engine");
    gr_jw_str(w, ri->engine);
    gr_jw_key(w, "model");
    gr_jw_str(w, ri->model);
    gr_jw_key(w, "feature");
    gr_jw_str(w, ri->feature);
    gr_jw_key(w, "route_reason");
    gr_jw_str(w, ri->reason);
    if (r) {
        gr_jw_key(w, "timings");
        gr_jw_obj(w);
        gr_jw_key(w, "ttft_ms");
        gr_jw_num(w, r->timings.ttft_ms);
        gr_jw_key(w, "prompt_tok_s");
        gr_jw_num(w, r->timings.prompt_tok_s);
        gr_jw_key(w, "gen_tok_s");
        gr_jw_num(w, r->timings.gen_tok_s);
        gr_jw_end(w);
    }
    gr_jw_end(w);
}

const char *srv_gemini_finish(gr_finish f) {
    switch (f) {
    case GR_FINISH_STOP:
        return "STOP";
    case GR_FINISH_LENGTH:
        return "MAX_TOKENS";
    default:
        return "OTHER";
    }
}

const char *srv_openai_finish(gr_finish f) {
    return f == GR_FINISH_LENGTH ? "length" : "stop";
}

char *srv_gemini_response(const char *text, size_t len, const char *finish, const gr_usage *u,
                          const srv_route_info *ri, const gr_result *r, const char *response_id) {
    gr_jw w;
    gr_jw_init(&w);
    gr_jw_obj(&w);
    gr_jw_key(&w, "candidates");
    gr_jw_arr(&w);
    gr_jw_obj(&w);
    gr_jw_key(&w, "content");
    gr_jw_obj(&w);
    gr_jw_key(&w, "parts");
    gr_jw_arr(&w);
    gr_jw_obj(&w);
    gr_jw_key(&w, "text");
    gr_jw_strn(&w, text ? text : "", text ? len : 0);
    gr_jw_end(&w);
    gr_jw_end(&w);
    gr_jw_key(&w, "role");
    gr_jw_str(&w, "model");
    gr_jw_end(&w);
    if (finish) {
        gr_jw_key(&w, "finishReason");
        gr_jw_str(&w, finish);
    }
    gr_jw_key(&w, "index");
    gr_jw_int(&w, 0);
    gr_jw_end(&w);
    gr_jw_end(&w);
    if (u) {
        gr_jw_key(&w, "usageMetadata");
        gr_jw_obj(&w);
        gr_jw_key(&w, "promptTokenCount");
        gr_jw_int(&w, u->prompt_tokens);
        gr_jw_key(&w, "candidatesTokenCount");
        gr_jw_int(&w, u->completion_tokens);
        gr_jw_key(&w, "totalTokenCount");
        gr_jw_int(&w, (int64_t)u->prompt_tokens + u->completion_tokens);
        gr_jw_end(&w);
    }
    gr_jw_key(&w, "modelVersion");
    gr_jw_str(&w, ri->model);
    gr_jw_key(&w, "responseId");
    gr_jw_str(&w, response_id);
    srv_write_gemrun(&w, ri, r);
    gr_jw_end(&w);
    return take(&w);
}

static void openai_usage(gr_jw *w, const gr_result *res) {
    gr_jw_key(w, "usage");
    gr_jw_obj(w);
    gr_jw_key(w, "prompt_tokens");
    gr_jw_int(w, res->usage.prompt_tokens);
    gr_jw_key(w, "completion_tokens");
    gr_jw_int(w, res->usage.completion_tokens);
    gr_jw_key(w, "total_tokens");
    gr_jw_int(w, (int64_t)res->usage.prompt_tokens + res->usage.completion_tokens);
    gr_jw_end(w);
}

static void openai_head(gr_jw *w, const char *object, const srv_route_info *ri, const char *id,
                        long created) {
    gr_jw_obj(w);
    gr_jw_key(w, "id");
    gr_jw_str(w, id);
    gr_jw_key(w, "object");
    gr_jw_str(w, object);
    gr_jw_key(w, "created");
    gr_jw_int(w, created);
    gr_jw_key(w, "model");
    gr_jw_str(w, ri->model);
}

char *srv_openai_response(const char *text, size_t len, const gr_result *res,
                          const srv_route_info *ri, const char *id, long created) {
    gr_jw w;
    gr_jw_init(&w);
    openai_head(&w, "chat.completion", ri, id, created);
    gr_jw_key(&w, "choices");
    gr_jw_arr(&w);
    gr_jw_obj(&w);
    gr_jw_key(&w, "index");
    gr_jw_int(&w, 0);
    gr_jw_key(&w, "message");
    gr_jw_obj(&w);
    gr_jw_key(&w, "role");
    gr_jw_str(&w, "assistant");
    gr_jw_key(&w, "content");
    gr_jw_strn(&w, text ? text : "", text ? len : 0);
    gr_jw_end(&w);
    gr_jw_key(&w, "logprobs");
    gr_jw_null(&w);
    gr_jw_key(&w, "finish_reason");
    gr_jw_str(&w, srv_openai_finish(res->finish));
    gr_jw_end(&w);
    gr_jw_end(&w);
    openai_usage(&w, res);
    srv_write_gemrun(&w, ri, res);
    gr_jw_end(&w);
    return take(&w);
}

char *srv_openai_chunk(int kind, const char *text, size_t len, const gr_result *res,
                       const srv_route_info *ri, const char *id, long created) {
    gr_jw w;
    gr_jw_init(&w);
    openai_head(&w, "chat.completion.chunk", ri, id, created);
    gr_jw_key(&w, "choices");
    gr_jw_arr(&w);
    if (kind != 3) {
        gr_jw_obj(&w);
        gr_jw_key(&w, "index");
        gr_jw_int(&w, 0);
        gr_jw_key(&w, "delta");
        gr_jw_obj(&w);
        if (kind == 0) {
            gr_jw_key(&w, "role");
            gr_jw_str(&w, "assistant");
            gr_jw_key(&w, "content");
            gr_jw_str(&w, "");
        } else if (kind == 1) {
            gr_jw_key(&w, "content");
            gr_jw_strn(&w, text ? text : "", text ? len : 0);
        }
        gr_jw_end(&w);
        gr_jw_key(&w, "logprobs");
        gr_jw_null(&w);
        gr_jw_key(&w, "finish_reason");
        if (kind == 2)
            gr_jw_str(&w, srv_openai_finish(res->finish));
        else
            gr_jw_null(&w);
        gr_jw_end(&w);
    }
    gr_jw_end(&w);
    if (kind == 3)
        openai_usage(&w, res);
    else {
        gr_jw_key(&w, "usage");
        gr_jw_null(&w);
    }
    srv_write_gemrun(&w, ri, kind >= 2 ? res : NULL);
    gr_jw_end(&w);
    return take(&w);
}
