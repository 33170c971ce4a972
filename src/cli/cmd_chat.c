/* cmd_chat.c — placeholder until the command is implemented. */
#include "cli/commands.h"
#include <stdio.h>

int cmd_chat(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "gemrun chat: not implemented yet\n");
    return 1;
}
