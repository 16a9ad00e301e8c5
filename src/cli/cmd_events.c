/* `movierec events`: the event service (POST /interact -> RabbitMQ with publisher confirms). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_cmds.h"
#include "cli/cli_opts.h"
#include "core/mr_error.h"
#include "services/events.h"

enum {
  O_PORT,
  O_LISTEN,
  O_AMQP,
  O_DATA,
  O_DATASET,
  O_FORMAT,
  O_CORS,
  O_THREADS,
  O_CONFIRM_MS,
  O_TOKEN,
  O_N
};
static const cli_opt ev_opts[O_N] = {
    [O_PORT] = {"port", CLI_INT, "8001", "MOVIEREC_EVENTS_PORT", "HTTP port (0: any free port)"},
    [O_LISTEN] = {"listen", CLI_STR, "127.0.0.1", "MOVIEREC_LISTEN", "address to bind"},
    [O_AMQP] = {"amqp", CLI_STR, "amqp://guest:guest@127.0.0.1:5672/", "MOVIEREC_AMQP_URL",
                "RabbitMQ URL"},
    [O_DATA] = {"data", CLI_STR, NULL, "MOVIEREC_DATA", "data directory (the valid movie ids)"},
    [O_DATASET] = CLI_OPT_DATASET,
    [O_FORMAT] = CLI_OPT_FORMAT,
    [O_CORS] = {"cors-origin", CLI_STR, "http://127.0.0.1:8000", "MOVIEREC_CORS_ORIGIN",
                "origin allowed to POST from a browser (the UI); \"none\" disables CORS"},
    [O_THREADS] = {"threads", CLI_INT, "0", "MOVIEREC_THREADS", "event-loop threads (0: cores)"},
    [O_CONFIRM_MS] = {"confirm-timeout-ms", CLI_INT, "2000", NULL,
                      "wait this long for the broker's confirm before answering 503"},
    [O_TOKEN] = {"token", CLI_STR, NULL, "MOVIEREC_TOKEN",
                 "when set, POST /interact needs \"Authorization: Bearer TOKEN\" (else 401)"},
};

static void log_broker(void *user, int connected, const char *msg) {
  (void)user;
  char ts[32];
  time_t t = time(NULL);
  struct tm tm;
  strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", gmtime_r(&t, &tm));
  fprintf(stderr, "%s events: broker %s: %s\n", ts, connected ? "up" : "down", msg);
}

int cmd_events(int argc, char **argv) {
  cli_values v;
  mr_dataset *ds = NULL;
  events_svc *s = NULL;
  char err[512] = "";
  int rc =
      cli_parse("events", "Run the event service: POST /interact publishes ratings to RabbitMQ.",
                ev_opts, O_N, argc, argv, &v);
  if (rc)
    return rc > 0 ? 0 : 2;
  if (cli_data_select(v.str[O_DATASET], v.str[O_FORMAT]))
    return 2;
  long port = v.num[O_PORT], threads = v.num[O_THREADS], confirm = v.num[O_CONFIRM_MS];
  if (port < 0 || port > 65535 || threads < 0 || threads > 256 || confirm < 10 ||
      confirm > 600000) {
    fprintf(stderr, "movierec events: --port 0..65535, --threads 0..256 and "
                    "--confirm-timeout-ms 10..600000 expected\n");
    return 2;
  }
  if (cli_load_dataset(v.str[O_DATA], &ds))
    return 1;
  events_opts o;
  events_opts_default(&o);
  o.listen = v.str[O_LISTEN];
  o.port = (int)port;
  o.threads = (int)threads;
  o.cors_origin = strcmp(v.str[O_CORS], "none") ? v.str[O_CORS] : NULL;
  o.amqp_url = v.str[O_AMQP];
  o.token = v.str[O_TOKEN];
  o.confirm_timeout_s = (double)confirm / 1000.0;
  o.on_broker_state = log_broker;
  rc = events_create(&o, ds, &s, err, sizeof(err));
  ds_free(ds); /* the service copied the movie ids */
  if (rc) {
    fprintf(stderr, "movierec events: %s\n", *err ? err : mr_strerror(rc));
    return 1;
  }
  fprintf(stderr,
          "events: listening on http://%s:%d (POST /interact, GET /health, GET /metrics); "
          "POST /interact %s\n",
          o.listen, events_port(s), o.token && *o.token ? "needs the bearer token" : "is open");
  events_run(s);
  fprintf(stderr, "events: stopping\n");
  events_free(s);
  return 0;
}
