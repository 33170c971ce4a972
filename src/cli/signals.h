/* signals.h — route Ctrl-C (and optionally SIGTERM) to a cancel token for the length of one
 * operation, then put the previous handlers back. One token at a time per process: a signal
 * handler cannot take a parameter, so the token lives in a static. */
#ifndef GR_CLI_SIGNALS_H
#define GR_CLI_SIGNALS_H

#include "core/cancel.h"

#include <signal.h>
#include <stdbool.h>

typedef struct cli_signals {
    struct sigaction old_int, old_term;
    bool term;
} cli_signals;

/* From now on SIGINT (and SIGTERM when also_term) sets *c. SA_RESTART is set, so a Ctrl-C at a
 * prompt does not end the input stream. */
void cli_cancel_on_signals(gr_cancel *c, bool also_term, cli_signals *saved);
/* The previous handlers again; the token is no longer reachable from the handler. */
void cli_signals_restore(cli_signals *saved);

#endif
