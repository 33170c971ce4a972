/* engine_fake.h — a deterministic test engine behind the gr_engine interface. It "generates" words
 * derived from the prompt (or a fixed script) at a configurable token rate, honours cancel tokens and
 * deadlines within a few milliseconds, and can be told to hang or fail so queue and server tests can
 * exercise force_reset and error paths. Scripted steps give each call its own answer, rate or failure
 * (the structured-output pipeline's tests script "invalid, then repaired" this way), and the last
 * request is recorded so tests can read the prompt an engine was given. It must not be used to
 * produce numbers that claim anything about real model speed.
 *
 * Thread safety: like every engine, one generate() at a time per instance; a second concurrent call
 * fails with GR_E_BUSY ("previous invocation is still ongoing"), which lets tests prove the queue
 * serialises. Gates are thread-safe. */
#ifndef GR_ENGINE_FAKE_H
#define GR_ENGINE_FAKE_H

#include "engine/engine.h"

/* A barrier that "hung" generate() calls block on (ignoring cancellation) until it is opened. */
typedef struct gr_fake_gate gr_fake_gate;
gr_status gr_fake_gate_new(gr_fake_gate **out);
void gr_fake_gate_open(gr_fake_gate *g);          /* releases every blocked and future hang */
int gr_fake_gate_waiting(gr_fake_gate *g);        /* generate() calls blocked right now */
void gr_fake_gate_free(gr_fake_gate *g);          /* only when nothing waits in it */

typedef struct gr_fake_config {
    double tokens_per_s;        /* decode rate; <= 0: as fast as possible */
    double prompt_tokens_per_s; /* prefill rate; <= 0: instant */
    int stop_after;             /* end of turn after this many tokens (finish STOP); 0: never */
    int default_max_tokens;     /* used when request->max_tokens <= 0; 0 means 64 */
    const char *name;           /* result.engine; NULL: "fake" (tests of the badge may say "local") */
    const char *model_id;       /* NULL: "fake-1" */
    const char *script;         /* if set, the output is this text (split into ~4-byte tokens, never
                                   inside a UTF-8 character) instead of prompt-derived words */
    const char *hang_marker;    /* a message containing this blocks generate() on `gate`, ignoring
                                   cancellation, then generates normally */
    gr_fake_gate *gate;         /* required with hang_marker; not owned */
    const char *fail_marker;    /* a message containing this fails with GR_E_INTERNAL */
    const struct gr_fake_step *steps; /* call i (0-based, counting every generate()) follows steps[i];
                                         calls after the last step behave as if there were no steps */
    size_t n_steps;
} gr_fake_config;

/* One scripted call. */
typedef struct gr_fake_step {
    const char *text;    /* the output (like script; NULL: the config's script or prompt words) */
    double tokens_per_s; /* <= 0: the config's rate */
    gr_status fail;      /* non-zero: fail with this status before producing anything */
} gr_fake_step;

/* Strings in cfg are copied. */
gr_status gr_fake_engine_new(const gr_fake_config *cfg, gr_engine **out, char *err, size_t errlen);
/* Number of generate() calls this instance has started. */
long gr_fake_engine_calls(const gr_engine *e);
/* The messages of the last generate() call as a transcript, one block per message:
 * "[system]\n", "[user]\n" or "[model]\n", then the text and a newline, then a line
 * "[image MIME BASE64]" per image; malloc'ed into *transcript
 * (free it). *kind (may be NULL) gets the request's output kind. GR_E_NOT_FOUND before the first call. */
gr_status gr_fake_engine_last_request(const gr_engine *e, char **transcript, gr_output_kind *kind);

#endif
