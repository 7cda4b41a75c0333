/* cmd_summary.c - placeholder until this command lands. */
#include <stdio.h>
#include "cli.h"
#include "common.h"
int cmd_summary(int argc, char **argv, GlobalOpts *g) { (void)argc; (void)argv; (void)g; fprintf(stderr, "augprobe summary: not implemented yet\n"); return EXIT_FAIL; }
