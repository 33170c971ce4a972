/* cmd_synth.c — placeholder until the command is implemented. */
#include "cli/commands.h"
#include <stdio.h>

int cmd_synth(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "gemrun synth: not implemented yet\n");
    return 1;
}
