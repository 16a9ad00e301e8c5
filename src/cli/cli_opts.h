/* Table-driven command-line options: each command lists its options once (name, default,
 * environment variable, help); parsing, defaults and --help all come from that table. */
#ifndef MR_CLI_OPTS_H
#define MR_CLI_OPTS_H

typedef enum cli_opt_type { CLI_STR, CLI_INT, CLI_FLAG } cli_opt_type;

typedef struct cli_opt {
  const char *name; /* long name without dashes, e.g. "data" */
  cli_opt_type type;
  const char *dflt; /* default as text (NULL: none) */
  const char *env;  /* environment variable consulted before the default (NULL: none) */
  const char *help;
} cli_opt;

/* Parsed values, index-aligned with the option table. Strings borrow from argv/env/table. */
typedef struct cli_values {
  const char *str[32];
  long num[32];
  int set[32]; /* 1 when given on the command line */
} cli_values;

/* Parses argv (after the command name) against opts[0..n). Accepts --name VALUE and
 * --name=VALUE; --help prints usage and returns 1. Returns 0 on success, -1 on an error (the
 * message is printed on stderr). */
int cli_parse(const char *cmd, const char *summary, const cli_opt *opts, int n, int argc,
              char **argv, cli_values *out);

void cli_usage(const char *cmd, const char *summary, const cli_opt *opts, int n);

#endif
