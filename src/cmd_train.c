/* cmd_train.c - placeholder until this command lands. */
#include <stdio.h>
#include "cli.h"
#include "common.h"
int cmd_train(int argc, char **argv, GlobalOpts *g) { (void)argc; (void)argv; (void)g; fprintf(stderr, "augprobe train: not implemented yet\n"); return EXIT_FAIL; }
int cmd_eval(int argc, char **argv, GlobalOpts *g) { (void)argc; (void)argv; (void)g; fprintf(stderr, "augprobe eval: not implemented yet\n"); return EXIT_FAIL; }
