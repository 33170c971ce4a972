/* cmd_tokenize.c — placeholder until the command is implemented. */
#include "cli/commands.h"
#include <stdio.h>

int cmd_tokenize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "gemrun tokenize: not implemented yet\n");
    return 1;
}
