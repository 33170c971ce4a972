/* engine_fake.h — a deterministic test engine behind the gr_engine interface. It "generates" words
 * derived from the prompt (or a fixed script) at a configurable token rate, honours cancel tokens and
 * deadlines within a few milliseconds, and can be told to hang or fail so queue and server tests can
 * exercise force_reset and error paths. It must not be used to produce numbers that claim anything
 * about real model speed.
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
} gr_fake_config;

/* Strings in cfg are copied. */
gr_status gr_fake_engine_new(const gr_fake_config *cfg, gr_engine **out, char *err, size_t errlen);
/* Number of generate() calls this instance has started. */
long gr_fake_engine_calls(const gr_engine *e);

#endif
