/* pull.h — `gemrun pull` as a library call: spec -> source -> cache lookup -> lock -> resumable
 * verified download -> atomic commit (blob rename + manifest). The public wrappers in gemrun.h
 * (gr_pull, gr_model_resolve, gr_models_json, gr_model_remove) live in pull_api.c; this header adds
 * what internal callers need on top: a cancel token and the automatic choice.
 * Thread safety: reentrant; concurrent pulls of one model (threads or processes) serialise on the
 * cache's lock for that URL, and the later ones find the finished entry. */
#ifndef GR_PULL_PULL_H
#define GR_PULL_PULL_H

#include "core/cancel.h"
#include "gemrun.h"

/* gr_pull with a cancel token (may be NULL). */
gr_status gr_pull_run(const char *model, const gr_pull_opts *o, gr_cancel *cancel, gr_pull_info *info,
                      char *err, size_t errlen);

/* gr_model_resolve with a cancel token (may be NULL) for the download. */
gr_status gr_model_resolve_run(const char *model, int allow_download, const gr_pull_opts *o,
                               gr_cancel *cancel, char *path, size_t cap, char *err, size_t errlen);

/* The registry spec the fit plan picks for this machine ("gemma-4-e4b-it"), into spec[cap].
 * GR_E_UNAVAILABLE with the plan's reason when no local model fits. */
gr_status gr_pull_auto_spec(const gr_pull_opts *o, char *spec, size_t cap, char *err, size_t errlen);

/* Offline mode: o->offline or GEMRUN_OFFLINE set to 1/true/yes. */
int gr_pull_offline(const gr_pull_opts *o);

#endif
