/* main.c — the gemrun command-line entry point: dispatches to one function per subcommand. */
#include "cli/commands.h"
#include "gemrun.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"run", cmd_run, "generate text from a prompt"},
    {"chat", cmd_chat, "interactive multi-turn chat"},
    {"bench", cmd_bench, "measure prompt and generation speed"},
    {"synth", cmd_synth, "write a random-weight Gemma GGUF file of a given shape"},
    {"tokenize", cmd_tokenize, "print the token ids of a text"},
    {"plan", cmd_plan, "show the memory fit plan and model choice before loading"},
    {"pull", cmd_pull, "download a model into the cache (resumable, verified)"},
    {"models", cmd_models, "list the models in the cache"},
    {"rm", cmd_rm, "remove a model from the cache"},
    {"serve", cmd_serve, "serve the Gemini and OpenAI APIs over HTTP"},
};

static void usage(FILE *f) {
    fprintf(f, "gemrun %s — local Gemma inference\n\nusage: gemrun COMMAND [options]\n\n",
            gr_version());
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nRun 'gemrun COMMAND --help' for the options of a command.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("gemrun %s\n", gr_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "gemrun: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
