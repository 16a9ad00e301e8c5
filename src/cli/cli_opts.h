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

/* The data set's choice, in every command that reads data. No defaults here: the loader owns
 * them (data/dataset.h: ml-100k when present, the format detected from the files). */
#define CLI_OPT_DATASET                                                                            \
  {                                                                                                \
    "dataset", CLI_STR, NULL, "MOVIEREC_DATASET",                                                  \
        "release subfolder of --data when it holds several (default: ml-100k when present, else "  \
        "the "                                                                                     \
        "only one)"                                                                                \
  }
#define CLI_OPT_FORMAT                                                                             \
  {                                                                                                \
    "format", CLI_STR, NULL, "MOVIEREC_FORMAT",                                                    \
        "ml-100k | ml-1m | ml-10m | ml-csv (ml-20m, ml-25m, ml-32m, ml-latest, ml-latest-small) "  \
        "| "                                                                                       \
        "generic | auto (default: detected from the files)"                                        \
  }

/* Makes --dataset / --format (NULL: not given) what every loader of this process and of the
 * processes it starts reads (MOVIEREC_DATASET / MOVIEREC_FORMAT). An unknown format: a message
 * naming the known ones on stderr and -1. */
int cli_data_select(const char *dataset, const char *format);

#endif
