/* fuzz_mermaid.c — libFuzzer target for the Mermaid validator: every input must be accepted or refused
 * with a "line L col C: ..." message whose line lies inside the input; never a crash or a hang. */
#include "validate/mermaid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    char err[256] = "";
    gr_mermaid_info info;
    gr_status st = gr_mermaid_validate((const char *)data, size, &info, err, sizeof err);
    if (st == GR_OK) {
        if (info.kind == GR_MERMAID_NONE) abort();
        return 0;
    }
    int line = 0, col = 0;
    if (st != GR_E_FORMAT || sscanf(err, "line %d col %d:", &line, &col) != 2 || line < 1 || col < 1) abort();
    size_t lines = 1;
    for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
    if ((size_t)line > lines) abort();
    return 0;
}
