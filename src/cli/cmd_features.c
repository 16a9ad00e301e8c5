/* `movierec features`: the ranker's feature table as Markdown (docs/FEATURES.md is generated). */
#include <stdio.h>

#include "cli/cli_cmds.h"
#include "cli/cli_opts.h"
#include "rank/features.h"

static const char *features_groups(int g, char *buf, size_t len) {
  static const char *const names[] = {"generator", "user", "movie", "imdb", "user-movie"};
  size_t off = 0;
  buf[0] = '\0';
  for (int b = 0; b < 5; b++)
    if (g & (1 << b)) {
      int w = snprintf(buf + off, len - off, "%s%s", off ? ", " : "", names[b]);
      if (w < 0 || (size_t)w >= len - off)
        break;
      off += (size_t)w;
    }
  return buf;
}

int cmd_features(int argc, char **argv) {
  cli_values v;
  int rc = cli_parse("features", "Print the ranker's feature table (Markdown).", NULL, 0, argc,
                     argv, &v);
  if (rc)
    return rc > 0 ? 0 : 2;
  printf("| # | feature | groups | meaning |\n| --- | --- | --- | --- |\n");
  for (int f = 0; f < feat_count(); f++) {
    char g[64];
    printf("| %d | `%s` | %s | %s |\n", f, feat_table()[f].name,
           features_groups(feat_table()[f].groups, g, sizeof(g)), feat_table()[f].description);
  }
  return 0;
}
