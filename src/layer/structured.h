/* structured.h — structured output that is valid by construction: ONE wrapper engine
 * (gr_engine_ops) that every front end (C API, CLI, server queues) puts around its engine.
 * docs/structured.md is the user-facing description. It must not know about particular engines,
 * transports or the server.
 *
 * generate() of the wrapper:
 *  - GR_OUTPUT_TEXT requests pass straight through to the primary engine (streaming, same result).
 *  - Structured kinds (JSON, JSON_SCHEMA, MERMAID, SVG) run the pipeline:
 *      primary answer -> validate -> `repairs` repair attempts on the primary (the conversation,
 *      the invalid answer as the model turn, a user turn quoting the validation error and the
 *      requirement) -> the fallback engine, if any (a fresh answer, then `fallback_repairs`
 *      repairs) -> GR_E_INVALID_OUTPUT with the last validation error in result.error.
 *    Every engine call carries the request's output constraint, so engines that can constrain
 *    their decoding (local grammar, cloud responseSchema) do. Nothing is streamed while attempts
 *    run: the sink receives the final validated text once, in one delta (its return value is then
 *    ignored: the answer is complete).
 *  - Never returns invalid output as success: on any failure result.text is NULL.
 *  - Cancel flag and deadlines are checked before every attempt; GR_E_CANCELLED / GR_E_TIMEOUT
 *    from the token, the request deadline or an engine end the pipeline at once (no fallback).
 *  - A primary engine error (other than cancel/timeout) skips the remaining primary attempts and
 *    goes to the fallback; without a fallback that error is returned as it is.
 *  - A JSON Schema that does not compile fails before any engine runs: GR_E_UNSUPPORTED (a keyword
 *    we do not implement) or GR_E_INVALID_ARG (malformed/missing), prefixed "output.schema: ".
 *  - Final status when no answer validated: GR_E_INVALID_OUTPUT if at least one answer failed
 *    validation (result.error carries the last validation error), else the last engine error.
 *
 * Validated and returned, after removing surrounding whitespace and ONE Markdown code fence around
 * the whole answer (```json ... ```, ```mermaid ... ```, ...):
 *    JSON         strict RFC 8259 (core/json.h); the unfenced text as written
 *    JSON_SCHEMA  JSON valid against output.schema (validate/schema.h)
 *    MERMAID      the Mermaid parser (validate/mermaid.h)
 *    SVG          well-formed SVG, SANITIZED (validate/svg.h): the sanitized document is returned
 * Error positions ("line L col C") refer to the answer as the model wrote it, fence included.
 *
 * result: text = the validated text; engine/model = the engine that produced it; usage = summed
 * over every attempt; timings: ttft_ms = total_ms = the whole pipeline (the caller sees text only
 * at the end), prompt/gen speeds from the attempt that produced the answer.
 *
 * Thread safety: like every engine, one generate() at a time (a concurrent call fails with
 * GR_E_BUSY); gr_structured_last_report may be called from any thread. */
#ifndef GR_LAYER_STRUCTURED_H
#define GR_LAYER_STRUCTURED_H

#include "engine/engine.h"
#include "validate/schema.h"

#define GR_STRUCTURED_MAX_REPAIRS 3
#define GR_STRUCTURED_MAX_ATTEMPTS (2 * (1 + GR_STRUCTURED_MAX_REPAIRS))

typedef struct gr_structured_opts {
    int repairs;          /* repair attempts on the primary; 0: default (1); < 0: none; capped */
    int fallback_repairs; /* repair attempts on the fallback; <= 0: none (default); capped */
    size_t max_schema_in_prompt; /* bytes of schema quoted in a repair prompt; 0: 8192 */
} gr_structured_opts;

/* What one engine call did. */
typedef struct gr_structured_attempt {
    char engine[16]; /* result.engine of that call */
    char model[64];
    int fallback;     /* 1: the fallback engine */
    int repair;       /* 0: first answer of that engine; n: n-th repair */
    gr_status status; /* the engine's status */
    int valid;        /* 1 valid, 0 invalid, -1 not validated (the engine failed) */
    gr_finish finish;
    char error[256]; /* the validation error or the engine's error; "" when valid */
    gr_usage usage;
    double ms;
} gr_structured_attempt;

typedef struct gr_structured_report {
    gr_output_kind kind;
    gr_status status; /* what generate() returned */
    int n_attempts;   /* 0 for pass-through (TEXT) requests and for requests refused before any call
                       */
    int used;         /* index of the attempt whose answer was returned; -1 if none */
    size_t svg_removed; /* SVG: items the sanitizer dropped from the returned answer */
    gr_structured_attempt attempts[GR_STRUCTURED_MAX_ATTEMPTS];
} gr_structured_report;

/* Wrap `primary` (required) and `fallback` (NULL: none). Both pass into the wrapper's ownership on
 * success (destroy() destroys them); on failure the caller keeps them. opts may be NULL. */
gr_status gr_structured_engine_new(gr_engine *primary, gr_engine *fallback,
                                   const gr_structured_opts *opts, gr_engine **out, char *err,
                                   size_t errlen);

/* The report of the last generate() (copied into *out). GR_E_NOT_FOUND before the first call,
 * GR_E_INVALID_ARG when e is not a structured engine. */
gr_status gr_structured_last_report(const gr_engine *e, gr_structured_report *out);

/* The report as one compact JSON object for logs/metrics (malloc'ed; NULL when out of memory):
 * {"kind":"json_schema","status":"ok","used":1,"attempts":[{"engine":"local","model":"...",
 *  "fallback":false,"repair":0,"status":"ok","valid":false,"finish":"stop","error":"...",
 *  "prompt_tokens":..,"completion_tokens":..,"ms":..},...]} */
char *gr_structured_report_json(const gr_structured_report *r);

/* Whether e is a structured wrapper, and the wrapped engines (NULL when absent / not a wrapper). */
int gr_structured_is(const gr_engine *e);
gr_engine *gr_structured_primary(gr_engine *e);
gr_engine *gr_structured_fallback(gr_engine *e);

/* Validate one answer for a constraint, without any engine. On GR_OK *out is the malloc'ed text the
 * pipeline would return (unfenced; sanitized for SVG) and *removed (may be NULL) the SVG items
 * dropped. GR_E_FORMAT: the answer is invalid (err: "line L col C: ..." or "<pointer>: ...");
 * GR_E_FORMAT means nothing else. The schema's own errors: GR_E_UNSUPPORTED / GR_E_INVALID_ARG
 * prefixed "output.schema: ". GR_OUTPUT_TEXT accepts anything (returned as given). */
gr_status gr_structured_check(const gr_output_constraint *oc, const char *text, size_t len,
                              char **out, size_t *outlen, size_t *removed, char *err,
                              size_t errlen);

/* The two halves of gr_structured_check, for callers that validate many answers against one schema:
 * compile output.schema (*out NULL for kinds without one), then check with it (schema may be NULL
 * unless the kind is JSON_SCHEMA). Same statuses as gr_structured_check. */
gr_status gr_structured_compile_schema(const gr_output_constraint *oc, gr_schema **out, char *err,
                                       size_t errlen);
gr_status gr_structured_check_with(const gr_output_constraint *oc, const gr_schema *schema,
                                   const char *text, size_t len, char **out, size_t *outlen,
                                   size_t *removed, char *err, size_t errlen);

/* "text", "json", "json_schema", "mermaid", "svg" */
const char *gr_output_kind_str(gr_output_kind k);

#endif
