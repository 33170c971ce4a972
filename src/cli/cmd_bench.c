/* cmd_bench.c — placeholder until the command is implemented. */
#include "cli/commands.h"
#include <stdio.h>

int cmd_bench(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "gemrun bench: not implemented yet\n");
    return 1;
}
