/* gemrun.h — the public C API of gemrun.
 *
 * Conventions: opaque handles with gr_ prefix; fallible calls return gr_status and, where they take
 * (char *err, size_t errlen), write a human-readable message there (err may be NULL).
 * Objects are not thread-safe unless a comment says so.
 */
#ifndef GEMRUN_H
#define GEMRUN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gr_status {
    GR_OK = 0,
    GR_E_INVALID_ARG,   /* a parameter is out of range or NULL */
    GR_E_IO,            /* open/read/write/map failed */
    GR_E_FORMAT,        /* malformed file or data (bad magic, truncated, bad offsets) */
    GR_E_UNSUPPORTED,   /* well-formed but not supported (architecture, tensor type) */
    GR_E_NOMEM,         /* allocation failed */
    GR_E_CONTEXT_FULL,  /* prompt + generation would exceed the context window */
    GR_E_CANCELLED,     /* the cancel token was set */
    GR_E_TIMEOUT,       /* the deadline passed */
    GR_E_BUSY,          /* queue full / engine busy */
    GR_E_NOT_FOUND,     /* key, tensor, model or file missing */
    GR_E_INTERNAL,      /* a bug: an invariant did not hold */
    GR_E_NETWORK,       /* connection failed, reset or cut off (cloud engine, pull) */
    GR_E_AUTH,          /* the endpoint refused the credentials (HTTP 401/403) */
    GR_E_RATE_LIMITED,  /* the endpoint said slow down (HTTP 429) and retries ran out */
    GR_E_UPSTREAM,      /* the endpoint failed (5xx) or answered something we cannot parse */
    GR_E_INVALID_OUTPUT,/* structured output failed validation after repair and fallback; the
                           message carries the last validation error (docs/structured.md) */
    GR_E_INTEGRITY,     /* downloaded bytes do not match their checksum */
    GR_E_UNAVAILABLE,   /* no engine can serve this (route unavailable, offline and not cached) */
    GR_E_ABORTED,       /* the engine was abandoned by a force reset while running this task */
    GR_STATUS_COUNT
} gr_status;

/* Short, static description of a status code ("format error", ...). Never NULL. */
const char *gr_status_str(gr_status s);

/* Library version string, e.g. "0.1.0". */
const char *gr_version(void);

/* ==== Public API: load / generate / queue / router / plan / probe ===============================
 * Thin opaque wrappers over the internal modules (src/model, src/engine, src/layer). Link with
 * `pkg-config --libs gemrun` (static library: -lgemrun -lpthread -lm -ldl). Strings returned as
 * char * are malloc'ed: release them with gr_free(). Thread safety is stated per object. */

void gr_free(void *p);

/* ---- model: a loaded GGUF (weights mmapped). Immutable after load: share it between threads,
 * generators and queues freely; free it only after everything using it is gone. */
typedef struct gr_model gr_model;
gr_status gr_model_load(const char *path, gr_model **out, char *err, size_t errlen);
void gr_model_free(gr_model *m);

/* ---- messages and generation options */
#define GR_MSG_SYSTEM 0
#define GR_MSG_USER 1
#define GR_MSG_MODEL 2
typedef struct gr_msg {
    int role;         /* GR_MSG_* */
    const char *text; /* UTF-8, NUL-terminated */
} gr_msg;

/* Output kinds (gr_gen_opts.output). Structured kinds are generated under constraints where the
 * engine can, validated, repaired once, and fail with GR_E_INVALID_OUTPUT rather than return invalid
 * text; the text callback then receives the validated answer once (docs/structured.md). */
#define GR_OUT_TEXT 0        /* free text, streamed */
#define GR_OUT_JSON 1        /* any JSON value */
#define GR_OUT_JSON_SCHEMA 2 /* JSON valid against gr_gen_opts.schema */
#define GR_OUT_MERMAID 3     /* a Mermaid flowchart or mindmap */
#define GR_OUT_SVG 4         /* an SVG document, returned sanitized */

typedef struct gr_gen_opts {
    int max_tokens;     /* <= 0: the generator's default (256) */
    float temperature;  /* 0: greedy; < 0: default (1.0) */
    int top_k;          /* 0: default (64) */
    float top_p;        /* 0: default (0.95) */
    unsigned long long seed; /* 0: random */
    double timeout_s;   /* 0: none */
    int output;         /* GR_OUT_* (0: free text) */
    const char *schema; /* JSON Schema text, required with GR_OUT_JSON_SCHEMA */
} gr_gen_opts;

/* finish: "stop", "length", "cancelled", "timeout", "error" */
typedef struct gr_gen_output {
    gr_status status;
    const char *finish;
    char *text; /* malloc'ed; release with gr_gen_output_clear */
    size_t text_len;
    int prompt_tokens, completion_tokens;
    double ttft_ms, prompt_tok_s, gen_tok_s, total_ms;
    char model[64];
    char error[256];
    char engine[16]; /* the engine that produced the text ("local", ...) */
} gr_gen_output;
void gr_gen_output_clear(gr_gen_output *o);

/* Receives streamed UTF-8 text (never split inside a character). Return non-zero to stop. */
typedef int (*gr_text_fn)(void *user, const char *delta, size_t len);

/* ---- generator: the local engine over one model (chat template, sampling, thought stripping).
 * One call at a time per generator (a concurrent call fails with GR_E_BUSY); use a queue to
 * serve several threads. */
typedef struct gr_generator gr_generator;
typedef struct gr_generator_params {
    const gr_model *model; /* required; not owned */
    unsigned n_ctx;        /* 0: min(4096, trained) */
    unsigned n_batch;      /* 0: 64 */
    int n_threads;         /* 0: 2 */
} gr_generator_params;
gr_status gr_generator_new(const gr_generator_params *p, gr_generator **out, char *err,
                           size_t errlen);
/* Runs one chat to completion on this thread; *out is always filled (also on error). */
gr_status gr_generator_chat(gr_generator *g, const gr_msg *msgs, size_t n, const gr_gen_opts *o,
                            gr_text_fn fn, void *user, gr_gen_output *out);
void gr_generator_free(gr_generator *g);
/* How the last chat's structured answer came about, as JSON (attempts, their errors, which engine;
 * docs/structured.md); malloc'ed, NULL before the first chat. */
char *gr_generator_last_report(gr_generator *g);

/* Validate an answer without generating: GR_OK and *out = the text a generation would return
 * (without a surrounding code fence; sanitized for SVG; malloc'ed), GR_E_FORMAT when the answer is
 * invalid (err: "line L col C: ..." or "/json/pointer: ..."), GR_E_UNSUPPORTED / GR_E_INVALID_ARG
 * for a schema we cannot use. Reentrant. */
gr_status gr_output_validate(int output, const char *schema, const char *text, size_t len,
                             char **out, char *err, size_t errlen);

/* ---- queue: a FIFO of chat jobs served one at a time by a generator on a worker thread.
 * Every function is thread-safe except gr_job_queue_free (no concurrent calls on that queue).
 * Jobs stay valid until released, also after the queue is freed. */
typedef struct gr_job_queue gr_job_queue;
typedef struct gr_job gr_job;
/* max_pending: jobs waiting before submit says GR_E_BUSY (0: 64). */
gr_status gr_job_queue_new(const gr_generator_params *p, size_t max_pending, gr_job_queue **out,
                           char *err, size_t errlen);
/* Messages are copied. fn runs on the worker thread. */
gr_status gr_job_submit(gr_job_queue *q, const gr_msg *msgs, size_t n, const gr_gen_opts *o,
                        gr_text_fn fn, void *user, gr_job **out, char *err, size_t errlen);
void gr_job_cancel(gr_job *j);          /* any thread; the job completes promptly */
void gr_job_wait(gr_job *j);
int gr_job_done(gr_job *j);             /* non-zero once completed */
/* The output once done (owned by the job; text valid until release), else NULL. */
const gr_gen_output *gr_job_output(gr_job *j);
void gr_job_release(gr_job *j);
void gr_job_queue_free(gr_job_queue *q); /* cancels what is pending or running, then waits */

/* ---- router: feature name -> "local" | "cloud" | "unavailable" with a reason, from the JSON
 * configuration of docs/configuration.md (NULL: the defaults). Thread-safe. */
typedef struct gr_router gr_router;
gr_status gr_router_new(const char *json, size_t len, gr_router **out, char *err, size_t errlen);
void gr_router_free(gr_router *r);
/* Runtime state: local model loaded?, cloud configured / reachable? (non-zero = yes) */
void gr_router_set_local(gr_router *r, int loaded);
void gr_router_set_cloud_state(gr_router *r, int configured, int reachable);
/* Returns "local", "cloud" or "unavailable"; the reason goes to reason[cap] (may be NULL). */
const char *gr_router_decide(gr_router *r, const char *feature, char *reason, size_t cap);

/* ---- plan and probe (reentrant) */
/* The fit plan as JSON (see docs/fit-plan.md). model: a GGUF path, a registry id, or NULL for
 * automatic selection; memory_bytes 0: probed available RAM; n_ctx 0: 4096. */
gr_status gr_plan_json(const char *model, unsigned long long memory_bytes, unsigned n_ctx,
                       char **json, char *err, size_t errlen);
/* This machine's RAM, CPU and GPU as JSON (malloc'ed), or NULL. */
char *gr_probe_json(void);

/* ---- runtime speed check (docs/api.md): is the local engine far below its expected decode speed
 * (memory spill, wrong device)? Expected tok/s = memory read bandwidth (measured with n_threads,
 * ~0.1 s) / bytes read per decoded token (weights except the PLE table, plus KV at n_ctx). */
gr_status gr_expected_decode_tok_s(const gr_model *m, unsigned n_ctx, int n_threads, double *tok_s,
                                   double *bandwidth, char *err, size_t errlen);
/* Judge finished generations of the local generator. *verdict: 0 = fewer than n_tokens (0: 16)
 * decoded tokens in outs, 1 = at least threshold (0: 0.25) of expected_tok_s (a previous degraded
 * mark on the router is cleared), -1 = slower: the router's local engine is marked degraded with
 * the reason (also copied to reason[cap]), so features route to their fallback or unavailable.
 * r may be NULL (judge only). GR_E_INVALID_ARG for bad numbers. */
gr_status gr_router_check_speed(gr_router *r, const gr_gen_output *outs, size_t n,
                                double expected_tok_s, int n_tokens, double threshold,
                                int *verdict, char *reason, size_t cap, char *err, size_t errlen);

/* ==== pull: get models into the local cache (docs/pull.md) =====================================
 * MODEL: a registry id ("gemma-4-e2b-it", optionally ":q4_0|:q4_k_m|:q8_0|:bf16"), a Hugging Face
 * "OWNER/REPO/FILE.gguf[@REVISION]", or an http(s) URL; NULL or "": the fit plan's choice for this
 * machine. Downloads resume (HTTP Range), are verified by sha256 and enter the cache atomically;
 * concurrent pulls of one model are serialised by a file lock. Cache: opts->cache_dir, else
 * $GEMRUN_CACHE, $XDG_CACHE_HOME/gemrun, ~/.cache/gemrun. Offline (opts->offline or
 * GEMRUN_OFFLINE=1): cache only, GR_E_UNAVAILABLE naming the missing model. Thread-safe. */
typedef struct gr_pull_progress {
    const char *model;        /* cache name of what is pulled */
    const char *phase;        /* "wait" (another pull holds the lock), "start" (message: what, from
                                 where, into which cache), "download", "replay", "retry", "done" */
    unsigned long long done;  /* bytes in place and verified in order */
    unsigned long long total; /* 0: unknown */
    unsigned long long received; /* bytes received over the network by this pull */
    double rate;              /* bytes/s over the last seconds */
    double eta_s;             /* < 0: unknown */
    int attempt;
    const char *message;      /* what happened (retry reason, restart, repair), or NULL */
} gr_pull_progress;
/* Called at most ~10 times a second and on every event. Return non-zero to cancel (the partial
 * download is kept and resumes next time). */
typedef int (*gr_pull_progress_fn)(void *user, const gr_pull_progress *p);

typedef struct gr_pull_opts {     /* zero-initialise, then set what you need */
    const char *cache_dir;        /* NULL: see above */
    int offline;                  /* non-zero: never touch the network */
    const char *sha256;           /* expected hex digest, or NULL */
    unsigned long long memory_bytes; /* budget for the fit check; 0: available RAM */
    int no_check;                 /* non-zero: skip the GGUF / architecture / fit check */
    int max_retries;              /* attempts in a row without new bytes; 0: 6 */
    double idle_timeout_s;        /* 0: 30 */
    gr_pull_progress_fn progress;
    void *user;
} gr_pull_opts;

typedef struct gr_pull_info {
    char path[4096];              /* the verified file in the cache */
    char name[512];               /* cache name */
    char sha256[65];
    char sha256_from[32];         /* "given", "x-linked-etag", "etag", "computed" */
    unsigned long long size;
    unsigned long long resumed_from; /* bytes of an earlier partial download reused */
    unsigned long long received;  /* bytes received over the network */
    unsigned long long rewritten; /* bytes on disk found wrong and rewritten */
    int attempts, restarts, repairs;
    int cached;                   /* non-zero: already in the cache, nothing downloaded */
} gr_pull_info;

/* Download MODEL into the cache (or find it there). info may be NULL. */
gr_status gr_pull(const char *model, const gr_pull_opts *opts, gr_pull_info *info, char *err,
                  size_t errlen);
/* A local path for MODEL: an existing file path as is; else the cache entry; else (allow_download
 * and not offline) gr_pull. GR_E_UNAVAILABLE when it is not cached and may not be downloaded.
 * A MODEL written as a path ("/...", "./...", "../...", "~...") is a file or GR_E_NOT_FOUND, never a
 * download. */
gr_status gr_model_resolve(const char *model, int allow_download, const gr_pull_opts *opts,
                           char *path, size_t path_cap, char *err, size_t errlen);
/* The cache as a JSON array of manifests (malloc'ed; release with gr_free), NULL on error. */
char *gr_models_json(const char *cache_dir, char *err, size_t errlen);
/* Remove a cache entry by name or sha256 prefix (its blob too when no other name uses it). */
gr_status gr_model_remove(const char *name, const char *cache_dir, char *err, size_t errlen);
/* ==== end of pull ============================================================================== */

#ifdef __cplusplus
}
#endif
#endif /* GEMRUN_H */
