/* cmd_augment.c - placeholder until this command lands. */
#include <stdio.h>
#include "cli.h"
#include "common.h"
int cmd_export(int argc, char **argv, GlobalOpts *g) { (void)argc; (void)argv; (void)g; fprintf(stderr, "augprobe export: not implemented yet\n"); return EXIT_FAIL; }
int cmd_preview(int argc, char **argv, GlobalOpts *g) { (void)argc; (void)argv; (void)g; fprintf(stderr, "augprobe preview: not implemented yet\n"); return EXIT_FAIL; }
