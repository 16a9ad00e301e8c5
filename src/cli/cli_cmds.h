/* The subcommands; each takes the arguments after its name and returns the exit code. */
#ifndef MR_CLI_CMDS_H
#define MR_CLI_CMDS_H

#include "data/dataset.h"
#include "data/formats.h"

int cmd_train(int argc, char **argv);
int cmd_recommend(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_api(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_consume(int argc, char **argv);
int cmd_trending(int argc, char **argv);
int cmd_populate(int argc, char **argv);
int cmd_retrain(int argc, char **argv);
int cmd_models(int argc, char **argv);

/* Loads the data set from the resolved directory, printing a clear error on failure. */
int cli_load_dataset(const char *data_flag, mr_dataset **out);

/* The data set's choice, in every command that reads data. No defaults here: the loader owns
 * them (data/dataset.h: ml-100k when present, the format detected from the files). */
#define CLI_OPT_DATASET                                                                            \
  {                                                                                                \
    "dataset", CLI_STR, NULL, "MOVIEREC_DATASET",                                                  \
        "release subfolder of --data when it holds several (default: ml-100k when present, "       \
        "else the only one)"                                                                       \
  }
#define CLI_OPT_FORMAT                                                                             \
  {                                                                                                \
    "format", CLI_STR, NULL, "MOVIEREC_FORMAT",                                                    \
        FMT_NAMES " or auto (default: detected from the files)"                                    \
  }

/* Makes --dataset / --format (NULL: not given) what every loader of this process and of the
 * processes it starts reads (MOVIEREC_DATASET / MOVIEREC_FORMAT). An unknown format: a message
 * naming the known ones on stderr and -1. */
int cli_data_select(const char *dataset, const char *format);

#endif
