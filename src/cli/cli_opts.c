/* Option parsing and usage text generated from one option table per command. */
#include "cli/cli_opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_usage(const char *cmd, const char *summary, const cli_opt *opts, int n) {
  printf("usage: movierec %s [options]\n\n%s\n\noptions:\n", cmd, summary);
  for (int i = 0; i < n; i++) {
    char flag[64];
    snprintf(flag, sizeof(flag), "--%s%s", opts[i].name,
             opts[i].type == CLI_FLAG ? "" : (opts[i].type == CLI_INT ? " N" : " VALUE"));
    printf("  %-24s %s", flag, opts[i].help);
    if (opts[i].env)
      printf(" [env %s]", opts[i].env);
    if (opts[i].dflt)
      printf(" (default: %s)", opts[i].dflt);
    printf("\n");
  }
  printf("  %-24s %s\n", "--help", "show this help");
}

static int cli_set(const cli_opt *o, int i, const char *v, cli_values *out) {
  if (o->type == CLI_INT) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end) {
      fprintf(stderr, "movierec: --%s expects an integer, got '%s'\n", o->name, v);
      return -1;
    }
    out->num[i] = x;
  }
  out->str[i] = v;
  return 0;
}

int cli_parse(const char *cmd, const char *summary, const cli_opt *opts, int n, int argc,
              char **argv, cli_values *out) {
  memset(out, 0, sizeof(*out));
  if (n > 32) {
    fprintf(stderr, "movierec: internal error: too many options for %s\n", cmd);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    const char *v = opts[i].env ? getenv(opts[i].env) : NULL;
    if (!v || !*v)
      v = opts[i].dflt;
    if (v && cli_set(&opts[i], i, v, out))
      return -1;
  }
  for (int a = 0; a < argc; a++) {
    const char *arg = argv[a];
    if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
      cli_usage(cmd, summary, opts, n);
      return 1;
    }
    if (strncmp(arg, "--", 2)) {
      fprintf(stderr, "movierec %s: unexpected argument '%s' (see movierec %s --help)\n", cmd, arg,
              cmd);
      return -1;
    }
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    int found = -1;
    for (int i = 0; i < n; i++)
      if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len))
        found = i;
    if (found < 0) {
      fprintf(stderr, "movierec %s: unknown option '%s' (see movierec %s --help)\n", cmd, arg, cmd);
      return -1;
    }
    const cli_opt *o = &opts[found];
    const char *v;
    if (o->type == CLI_FLAG) {
      if (eq) {
        fprintf(stderr, "movierec %s: --%s takes no value\n", cmd, o->name);
        return -1;
      }
      v = "1";
      out->num[found] = 1;
    } else if (eq) {
      v = eq + 1;
    } else if (a + 1 < argc) {
      v = argv[++a];
    } else {
      fprintf(stderr, "movierec %s: --%s needs a value\n", cmd, o->name);
      return -1;
    }
    if (cli_set(o, found, v, out))
      return -1;
    out->set[found] = 1;
  }
  return 0;
}
