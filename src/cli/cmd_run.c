/* cmd_run.c — placeholder until the command is implemented. */
#include "cli/commands.h"
#include <stdio.h>

int cmd_run(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "gemrun run: not implemented yet\n");
    return 1;
}
