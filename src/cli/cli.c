/* Subcommand dispatch. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

int cli_main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    printf("usage: movierec <command> [options]\n");
    return argc < 2 ? 2 : 0;
  }
  fprintf(stderr, "movierec: unknown command '%s'\n", argv[1]);
  return 2;
}
