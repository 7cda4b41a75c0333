/* cmd_probe.c - placeholder until this command lands. */
#include <stdio.h>
#include "cli.h"
#include "common.h"
int cmd_probe(int argc, char **argv, GlobalOpts *g) { (void)argc; (void)argv; (void)g; fprintf(stderr, "augprobe probe: not implemented yet\n"); return EXIT_FAIL; }
