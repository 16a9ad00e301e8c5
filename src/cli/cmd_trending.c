/* `movierec trending`: recompute mr:trending from the Redis event log (services/trending.c). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli_cmds.h"
#include "cli/cli_opts.h"
#include "services/trending.h"

enum { O_REDIS, O_INTERVAL, O_WINDOW, O_HALF_LIFE, O_TOP, O_NOW, O_ONCE, O_N };
static const cli_opt trending_opts[O_N] = {
    [O_REDIS] = {"redis", CLI_STR, "redis://127.0.0.1:6379", "MOVIEREC_REDIS_URL", "Redis URL"},
    [O_INTERVAL] = {"interval", CLI_INT, "30", NULL, "seconds between recomputations (1-86400)"},
    [O_WINDOW] = {"window", CLI_INT, "86400", NULL, "events of the last this many seconds count"},
    [O_HALF_LIFE] = {"half-life", CLI_INT, "21600", NULL,
                     "seconds after which an event's weight halves"},
    [O_TOP] = {"top", CLI_INT, "50", NULL, "movies in the list (1-10000)"},
    [O_NOW] = {"now", CLI_INT, "0", NULL, "compute as of this Unix time (0: the clock; tests)"},
    [O_ONCE] = {"once", CLI_FLAG, NULL, NULL, "compute and write once, then exit"},
};

static volatile sig_atomic_t trending_stop;

static void trending_on_signal(int sig) {
  (void)sig;
  trending_stop = 1;
}

int cmd_trending(int argc, char **argv) {
  cli_values v;
  int rc = cli_parse("trending", "Recompute the trending movies from the recent rating events.",
                     trending_opts, O_N, argc, argv, &v);
  if (rc)
    return rc > 0 ? 0 : 2;
  struct {
    int idx;
    long lo, hi;
  } checks[] = {{O_INTERVAL, 1, 86400},
                {O_WINDOW, 1, 365L * 86400},
                {O_HALF_LIFE, 1, 365L * 86400},
                {O_TOP, 1, 10000},
                {O_NOW, 0, 1L << 40}};
  for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
    long x = v.num[checks[i].idx];
    if (x < checks[i].lo || x > checks[i].hi) {
      fprintf(stderr, "movierec trending: --%s must be %ld..%ld, got %ld\n",
              trending_opts[checks[i].idx].name, checks[i].lo, checks[i].hi, x);
      return 2;
    }
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = trending_on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  trending_config cfg = {.redis_url = v.str[O_REDIS],
                         .window_s = v.num[O_WINDOW],
                         .half_life_s = (double)v.num[O_HALF_LIFE],
                         .top = (int)v.num[O_TOP],
                         .now = v.num[O_NOW],
                         .interval_s = (int)v.num[O_INTERVAL],
                         .once = (int)v.num[O_ONCE]};
  return trending_run(&cfg, &trending_stop) ? 1 : 0;
}
