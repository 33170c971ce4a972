/* signals.c — see signals.h. */
#include "cli/signals.h"

#include <string.h>

static gr_cancel *volatile g_target;

static void on_signal(int sig) {
    (void)sig;
    gr_cancel *c = g_target;
    if (c) gr_cancel_set(c); /* an atomic store: async-signal-safe */
}

void cli_cancel_on_signals(gr_cancel *c, bool also_term, cli_signals *saved) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    g_target = c;
    saved->term = also_term;
    sigaction(SIGINT, &sa, &saved->old_int);
    if (also_term) sigaction(SIGTERM, &sa, &saved->old_term);
}

void cli_signals_restore(cli_signals *saved) {
    sigaction(SIGINT, &saved->old_int, NULL);
    if (saved->term) sigaction(SIGTERM, &saved->old_term, NULL);
    g_target = NULL;
}
