/* cmd_data.c - placeholder until this command lands. */
#include <stdio.h>
#include "cli.h"
#include "common.h"
int cmd_data(int argc, char **argv, GlobalOpts *g) { (void)argc; (void)argv; (void)g; fprintf(stderr, "augprobe data: not implemented yet\n"); return EXIT_FAIL; }
