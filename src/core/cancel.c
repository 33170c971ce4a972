/* cancel.c — cancel tokens and the monotonic clock. */
#include "core/cancel.h"

#include <time.h>

double gr_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void gr_cancel_init(gr_cancel *c) {
    atomic_store(&c->flag, 0);
    c->deadline = 0;
}

void gr_cancel_set(gr_cancel *c) { atomic_store(&c->flag, 1); }

gr_status gr_cancel_check(const gr_cancel *c) {
    if (!c) return GR_OK;
    if (atomic_load_explicit(&((gr_cancel *)c)->flag, memory_order_relaxed)) return GR_E_CANCELLED;
    if (c->deadline > 0 && gr_now() > c->deadline) return GR_E_TIMEOUT;
    return GR_OK;
}
