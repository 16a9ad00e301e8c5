/* libFuzzer target: the JSON the event pipeline parses from outside: POST /interact bodies
 * (event_parse_request, what `movierec events` answers 400/422 from) and RabbitMQ message bodies
 * (event_parse, what the consumer dead-letters). An accepted request must round-trip through the
 * message codec unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "infra/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* movie ids 1..1682 exist except every 7th, like a data set with gaps */
#define MAX_MOVIE 1682
static int64_t movie_ids[MAX_MOVIE];
static size_t n_movies;
static uint8_t movie_ok[MAX_MOVIE + 1]; /* the same set by id, to check the answer */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char msg[256], buf[160];
  mr_event ev, back;
  size_t n;
  if (!n_movies)
    for (int i = 1; i <= MAX_MOVIE; i++)
      if ((movie_ok[i] = i % 7 != 0))
        movie_ids[n_movies++] = i;
  int rc =
      event_parse_request((const char *)data, size, movie_ids, n_movies, &ev, msg, sizeof(msg));
  if (rc != MR_OK && rc != MR_EFORMAT && rc != MR_EINVAL)
    abort();
  if (rc != MR_OK && (!msg[0] || strlen(msg) >= sizeof(msg)))
    abort(); /* every refusal says why */
  if (rc == MR_OK) {
    if (ev.user_id < 1 || ev.user_id > EVENT_ID_MAX || ev.movie_id < 1 || ev.movie_id > MAX_MOVIE ||
        !movie_ok[ev.movie_id] || ev.rating < 1 || ev.rating > 5 || ev.ts < 0)
      abort();
    if (!ev.event_id[0]) /* the client's own id (idempotency key) when it sent one */
      memcpy(ev.event_id, "0123456789abcdef0123456789abcdef", EVENT_ID_LEN + 1);
    if (ev.ts == 0)
      ev.ts = 1764070000;
    if (event_format(&ev, buf, sizeof(buf), &n) != MR_OK)
      abort();
    if (event_parse(buf, n, &back, msg, sizeof(msg)) != MR_OK ||
        strcmp(back.event_id, ev.event_id) || back.user_id != ev.user_id ||
        back.movie_id != ev.movie_id || back.rating != ev.rating || back.ts != ev.ts)
      abort();
  }
  /* the same bytes as a queue message */
  rc = event_parse((const char *)data, size, &back, msg, sizeof(msg));
  if (rc == MR_OK) {
    if (event_validate(&back, NULL, 0) != MR_OK || event_format(&back, buf, sizeof(buf), &n))
      abort();
  } else if (rc != MR_EFORMAT) {
    abort();
  }
  return 0;
}
