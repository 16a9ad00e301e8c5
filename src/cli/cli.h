/* Command-line entry point and subcommands (thin layer over the library). */
#ifndef MR_CLI_H
#define MR_CLI_H

int cli_main(int argc, char **argv);

#endif
