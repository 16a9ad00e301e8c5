/* The subcommands; each takes the arguments after its name and returns the exit code. */
#ifndef MR_CLI_CMDS_H
#define MR_CLI_CMDS_H

#include "data/dataset.h"

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

#endif
