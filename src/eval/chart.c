/* An SVG scatter chart of nDCG@10 against coverage@10, one labelled point per configuration. */
#include <math.h>
#include <stdio.h>

#include "core/mr_error.h"
#include "eval/eval.h"

static void chart_escape(FILE *f, const char *s) {
  for (; *s; s++)
    switch (*s) {
    case '<':
      fputs("&lt;", f);
      break;
    case '>':
      fputs("&gt;", f);
      break;
    case '&':
      fputs("&amp;", f);
      break;
    default:
      fputc(*s, f);
    }
}

static double chart_ceil_step(double v, double step) {
  double c = ceil(v / step) * step;
  return c > 0 ? c : step;
}

int eval_write_chart(const char *path, const char *split, const eval_result *r, int n) {
  FILE *f = fopen(path, "w");
  if (!f)
    return MR_EIO;
  const double W = 900, H = 600, L = 70, R = 220, T = 50, B = 60;
  double max_x = 0, max_y = 0;
  for (int i = 0; i < n; i++) {
    max_x = r[i].coverage > max_x ? r[i].coverage : max_x;
    max_y = r[i].m.ndcg > max_y ? r[i].m.ndcg : max_y;
  }
  max_x = chart_ceil_step(max_x * 1.05, 0.1);
  max_y = chart_ceil_step(max_y * 1.05, 0.05);
  double pw = W - L - R, ph = H - T - B;
  fprintf(f,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
          "font-family=\"sans-serif\" font-size=\"12\">\n"
          "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
          "<text x=\"%.0f\" y=\"28\" font-size=\"16\">nDCG@10 against coverage@10 (split: ",
          W, H, L);
  chart_escape(f, split);
  fprintf(f, ")</text>\n");
  for (int t = 0; t <= 10; t++) {
    double x = L + pw * t / 10.0, y = T + ph - ph * t / 10.0;
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n"
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n"
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.2f</text>\n"
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3f</text>\n",
            x, T, x, T + ph, L, y, L + pw, y, x, T + ph + 18, max_x * t / 10.0, L - 6, y + 4,
            max_y * t / 10.0);
  }
  fprintf(f,
          "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
          "stroke=\"#333\"/>\n"
          "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">coverage@10</text>\n"
          "<text x=\"18\" y=\"%.0f\" transform=\"rotate(-90 18 %.0f)\" "
          "text-anchor=\"middle\">nDCG@10</text>\n",
          L, T, pw, ph, L + pw / 2, H - 15, T + ph / 2, T + ph / 2);
  for (int i = 0; i < n; i++) {
    double x = L + pw * r[i].coverage / max_x, y = T + ph - ph * r[i].m.ndcg / max_y;
    const char *color = r[i].config[0] == 't' ? "#c0392b" : "#2471a3"; /* two-stage in red */
    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", x, y, color);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\">", x + 6, y - 4 + (i % 3) * 4.0);
    chart_escape(f, r[i].config);
    fprintf(f, "</text>\n");
  }
  fprintf(f, "</svg>\n");
  return fclose(f) ? MR_EIO : MR_OK;
}
