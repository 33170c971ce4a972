/* cancel.h — cancel token: an atomic flag plus an optional deadline. Checked between prompt chunks
 * and after every decoded token by every loop that may run long. Thread-safe: any thread may set it. */
#ifndef GR_CORE_CANCEL_H
#define GR_CORE_CANCEL_H

#include "gemrun.h"
#include <stdatomic.h>
#include <stdbool.h>

typedef struct gr_cancel {
    atomic_int flag;  /* non-zero: cancelled */
    double deadline;  /* gr_now() seconds; 0 = none */
} gr_cancel;

void gr_cancel_init(gr_cancel *c);
void gr_cancel_set(gr_cancel *c);
/* GR_OK, GR_E_CANCELLED or GR_E_TIMEOUT. A NULL token never cancels. */
gr_status gr_cancel_check(const gr_cancel *c);

/* Monotonic clock in seconds. */
double gr_now(void);

#endif
