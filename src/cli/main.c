/* movierec: one binary, subcommands like git. */
#include <stdlib.h>
#include <unistd.h>

#include "cli/cli.h"

int main(int argc, char **argv) {
  /* OpenMP threads that spin while waiting steal the cores that the services, Redis, RabbitMQ
   * and the other threads need (measured: ALS 3x slower, the evaluation table 4x slower on a
   * loaded 2-core machine). libgomp reads the policy once at start-up, so set it and re-exec;
   * an explicit OMP_WAIT_POLICY from the user wins. */
  if (!getenv("OMP_WAIT_POLICY")) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc): run with the default policy */
  }
  return cli_main(argc, argv);
}
