/* `movierec consume`: RabbitMQ ratings -> Redis until SIGTERM/SIGINT (services/consume.c). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli_cmds.h"
#include "cli/cli_opts.h"
#include "services/consume.h"

enum { O_AMQP, O_REDIS, O_PREFETCH, O_N };
static const cli_opt consume_opts[O_N] = {
    [O_AMQP] = {"amqp", CLI_STR, "amqp://guest:guest@127.0.0.1:5672/", "MOVIEREC_AMQP_URL",
                "RabbitMQ URL"},
    [O_REDIS] = {"redis", CLI_STR, "redis://127.0.0.1:6379", "MOVIEREC_REDIS_URL", "Redis URL"},
    [O_PREFETCH] = {"prefetch", CLI_INT, "100", NULL, "unacked messages in flight (1-65535)"},
};

static volatile sig_atomic_t consume_stop;

static void consume_on_signal(int sig) {
  (void)sig;
  consume_stop = 1;
}

int cmd_consume(int argc, char **argv) {
  cli_values v;
  int rc =
      cli_parse("consume", "Store the ratings queued in RabbitMQ into Redis (ack after stored).",
                consume_opts, O_N, argc, argv, &v);
  if (rc)
    return rc > 0 ? 0 : 2;
  if (v.num[O_PREFETCH] < 1 || v.num[O_PREFETCH] > 65535) {
    fprintf(stderr, "movierec consume: --prefetch must be 1..65535, got %ld\n", v.num[O_PREFETCH]);
    return 2;
  }
  /* no SA_RESTART: a blocking wait returns early and the loop sees the flag */
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = consume_on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  consume_config cfg = {v.str[O_AMQP], v.str[O_REDIS], (int)v.num[O_PREFETCH]};
  rc = consume_run(&cfg, &consume_stop, NULL);
  return rc ? 1 : 0;
}
