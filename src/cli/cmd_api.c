/* `movierec api`: serves recommendations over HTTP from the current model version (and the next
 * ones: it follows models/current). */
#include <stdio.h>
#include <string.h>

#include "cli/cli_cmds.h"
#include "cli/cli_opts.h"
#include "core/mr_error.h"
#include "pipeline/reco.h"
#include "pipeline/snapshot.h"
#include "services/api.h"

enum {
  O_PORT,
  O_LISTEN,
  O_THREADS,
  O_REDIS,
  O_REDIS_TIMEOUT,
  O_MODELS,
  O_DATA,
  O_DATASET,
  O_FORMAT,
  O_WEB,
  O_EVENTS,
  O_TTL,
  O_UI_TOKEN,
  O_POOL,
  O_N
};
static const cli_opt api_cli_opts[O_N] = {
    [O_PORT] = {"port", CLI_INT, "8000", "MOVIEREC_API_PORT", "TCP port (0: any free port)"},
    [O_LISTEN] = {"listen", CLI_STR, "127.0.0.1", NULL, "address to bind"},
    [O_THREADS] = {"threads", CLI_INT, "0", NULL, "event-loop threads (0: one per core)"},
    [O_REDIS] = {"redis", CLI_STR, "redis://127.0.0.1:6379", "MOVIEREC_REDIS_URL",
                 "Redis URL (live ratings, response cache, trending)"},
    [O_REDIS_TIMEOUT] = {"redis-timeout", CLI_INT, "250", NULL,
                         "ms a Redis reply may be overdue before the connection is re-made"},
    [O_MODELS] = {"models", CLI_STR, "models", "MOVIEREC_MODELS",
                  "model directory; the API serves DIR/current"},
    [O_DATA] = {"data", CLI_STR, NULL, "MOVIEREC_DATA",
                "data directory holding ml-100k/ and imdb/ (else ../shared/data, else data/)"},
    [O_DATASET] = CLI_OPT_DATASET,
    [O_FORMAT] = CLI_OPT_FORMAT,
    [O_WEB] = {"web", CLI_STR, "web", NULL, "directory of the UI's files"},
    [O_EVENTS] = {"events-url", CLI_STR, "http://127.0.0.1:8001", NULL,
                  "the event service's URL, told to the UI by /config.js"},
    [O_TTL] = {"cache-ttl", CLI_INT, "300", NULL, "seconds a cached response lives"},
    [O_UI_TOKEN] = {"ui-token", CLI_STR, NULL, "MOVIEREC_UI_TOKEN",
                    "the event service's token, given to the UI in /config.js so it can rate "
                    "(anyone who loads the page can read it: only on a trusted network)"},
    [O_POOL] = {"pool-recs", CLI_INT, "0", NULL,
                "1: compute single recommendation lists on the thread pool (0: on the loop)"},
};

int cmd_api(int argc, char **argv) {
  cli_values v;
  mr_dataset *ds = NULL;
  reco *r = NULL;
  api *a = NULL;
  int status = 1;
  int rc = cli_parse("api", "Serve recommendations over HTTP (docs/SERVICES.md).", api_cli_opts,
                     O_N, argc, argv, &v);
  if (rc)
    return rc > 0 ? 0 : 2;
  if (cli_data_select(v.str[O_DATASET], v.str[O_FORMAT]))
    return 2;
  if (v.num[O_PORT] < 0 || v.num[O_PORT] > 65535 || v.num[O_THREADS] < 0 ||
      v.num[O_THREADS] > 256 || v.num[O_TTL] < 1 || v.num[O_REDIS_TIMEOUT] < 1 ||
      v.num[O_REDIS_TIMEOUT] > 60000) {
    fprintf(stderr, "movierec api: --port 0..65535, --threads 0..256, --cache-ttl >= 1, "
                    "--redis-timeout 1..60000\n");
    return 2;
  }
  /* the version's own data set: base data + the live ratings it was trained on */
  char dir[4096], err[512] = "";
  const char *data_dir = ds_resolve_dir(v.str[O_DATA]);
  snprintf(dir, sizeof(dir), "%s/current", v.str[O_MODELS]);
  if ((rc = snap_open_version(data_dir, dir, &ds, &r, err, sizeof(err)))) {
    fprintf(stderr, "movierec api: cannot open the model %s: %s\n", dir,
            *err ? err : mr_strerror(rc));
    goto done;
  }
  api_opts o = {
      .listen = v.str[O_LISTEN],
      .port = (int)v.num[O_PORT],
      .threads = (int)v.num[O_THREADS],
      .redis_url = v.str[O_REDIS],
      .redis_timeout_ms = (unsigned)v.num[O_REDIS_TIMEOUT],
      .web_dir = v.str[O_WEB],
      .events_url = v.str[O_EVENTS],
      .ui_token = v.str[O_UI_TOKEN],
      .cache_ttl_s = (int)v.num[O_TTL],
      .models_dir = v.str[O_MODELS],
      .data_dir = data_dir,
      .pool_recs = v.num[O_POOL] != 0,
  };
  if ((rc = api_create(&o, r, &a))) {
    fprintf(stderr, "movierec api: %s\n", mr_strerror(rc));
    goto done;
  }
  if (api_run(a) == 0)
    status = 0;
done:
  api_free(a);
  reco_free(r);
  ds_free(ds);
  return status;
}
