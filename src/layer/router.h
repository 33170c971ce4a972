/* router.h — the feature router (pattern 3): feature name -> local | cloud | unavailable, with the
 * reason, from a JSON configuration (docs/configuration.md) plus runtime state that may change at any
 * time (local model loaded? local engine degraded by the runtime check? cloud configured / reachable?).
 * Routing lives only here. It must not start engines, do I/O after construction, or guess: an unknown
 * feature routes to unavailable and a bad configuration is an error that names the field.
 *
 * Resolution for a feature configured with engine E and fallback F:
 *   E = "off"                                   -> unavailable ("disabled by configuration")
 *   E = "local" and the local engine is usable  -> local   (usable = model loaded and not degraded)
 *   E = "cloud" and the cloud is usable         -> cloud   (usable = configured and reachable)
 *   otherwise, F = the other engine and it is usable -> that engine (the reason says why)
 *   otherwise                                   -> unavailable (the reason names what is missing)
 * Defaults (the seed's): chat, tutoring, math-explanation, socratic-dialogue: local, fallback cloud,
 * text, streamed; quiz-generation (json), mermaid-mindmap (mermaid), svg-illustration (svg),
 * handwriting-ocr (text, vision): cloud, fallback none, not streamed (structured output goes to the
 * non-streaming endpoint).
 *
 * Thread safety: all functions may be called from any thread concurrently (one mutex inside). */
#ifndef GR_LAYER_ROUTER_H
#define GR_LAYER_ROUTER_H

#include "engine/engine.h"

typedef enum gr_route { GR_ROUTE_LOCAL = 0, GR_ROUTE_CLOUD, GR_ROUTE_UNAVAILABLE } gr_route;

typedef struct gr_router gr_router;

typedef struct gr_route_decision {
    gr_route route;
    gr_output_kind output; /* expected output shape of the feature */
    bool stream;           /* stream partial text (conversational) or not (structured) */
    bool vision;           /* the feature needs image input */
    bool fallback;         /* served by the fallback engine, not the configured one */
    gr_route alternative;  /* the configured fallback when the chosen engine is the configured one
                              and the fallback is usable now: where a request goes if the chosen
                              engine fails before any text (gr_route_should_fall_back); else
                              GR_ROUTE_UNAVAILABLE */
    char reason[224];
} gr_route_decision;

typedef struct gr_router_state {
    bool local_loaded;
    bool local_degraded;
    bool cloud_configured;
    bool cloud_reachable;
    char degraded_reason[128];
} gr_router_state;

/* json == NULL (or len == 0) gives the defaults; otherwise the listed features override them. */
gr_status gr_router_new(const char *json, size_t len, gr_router **out, char *err, size_t errlen);
gr_status gr_router_new_file(const char *path, gr_router **out, char *err, size_t errlen);
void gr_router_free(gr_router *r);
/* Replace the configuration at run time; on error the old one stays. */
gr_status gr_router_reload(gr_router *r, const char *json, size_t len, char *err, size_t errlen);

/* Returns d->route. Unknown or NULL feature -> GR_ROUTE_UNAVAILABLE with the reason. */
gr_route gr_router_route(gr_router *r, const char *feature, gr_route_decision *d);

/* Whether a request that failed with s on one engine (before any text reached the client) may be
 * tried on the feature's fallback: failures of that engine (context full, something it cannot do such
 * as image input or a schema keyword, invalid structured output, network, auth, rate limit,
 * upstream, unavailable, aborted), not the caller's (cancel, deadline, bad arguments, busy). */
bool gr_route_should_fall_back(gr_status s);

/* Runtime state. Initially: no local model, not degraded, cloud not configured, cloud reachable. */
void gr_router_set_local_loaded(gr_router *r, bool loaded);
void gr_router_set_local_degraded(gr_router *r, bool degraded, const char *why);
void gr_router_set_cloud(gr_router *r, bool configured, bool reachable);
void gr_router_state_get(gr_router *r, gr_router_state *st);

const char *gr_route_str(gr_route r); /* "local", "cloud", "unavailable" */
/* The known feature names, NULL-terminated. */
const char *const *gr_router_features(void);

#endif
