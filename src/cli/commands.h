/* commands.h — one entry point per CLI subcommand (argv[0] is the subcommand name). */
#ifndef GR_CLI_COMMANDS_H
#define GR_CLI_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_pull(int argc, char **argv);   /* cmd_pull.c */
int cmd_models(int argc, char **argv); /* cmd_pull.c */
int cmd_rm(int argc, char **argv);     /* cmd_pull.c */
int cmd_serve(int argc, char **argv);

#endif
