/* The rating event carried by RabbitMQ (docs/SERVICES.md): JSON parse, validate and format. */
#ifndef MR_EVENT_H
#define MR_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define EVENT_ID_LEN 32
#define EVENT_ID_MAX 2147483647LL /* user and movie ids are positive 32-bit integers */

typedef struct mr_event {
  char event_id[EVENT_ID_LEN + 1]; /* 32 lowercase hex chars */
  int64_t user_id;                 /* 1..EVENT_ID_MAX */
  int64_t movie_id;                /* 1..EVENT_ID_MAX (the data set is not consulted here) */
  int rating;                      /* 1..5 */
  int64_t ts;                      /* Unix seconds, 1..2^40 */
} mr_event;

/* Parses a message body `{"event_id": "<32 hex>", "user_id": int, "movie_id": int, "rating":
 * 1..5, "ts": int}`. Types are strict (integers must be JSON integers, not reals, strings or
 * booleans); duplicate keys and missing fields are errors; unknown extra fields are ignored so
 * a producer can add fields without dead-lettering every message. The event id is lowercased
 * (the idempotency key must not depend on the producer's hex case). On error returns
 * MR_EFORMAT and writes a one-line reason into err (when err != NULL); *out is then undefined. */
int event_parse(const char *body, size_t len, mr_event *out, char *err, size_t errlen);

/* Checks the value ranges of ev (what event_parse checks after the types). MR_OK or MR_EINVAL
 * with the reason in err. */
int event_validate(const mr_event *ev, char *err, size_t errlen);

/* Writes ev as a compact JSON body into buf (NUL-terminated) and its length into *len.
 * MR_EINVAL when ev is invalid, MR_ERANGE when buf is too small (128 bytes always suffice). */
int event_format(const mr_event *ev, char *buf, size_t cap, size_t *len);

/* Validates a POST /interact body (docs/SERVICES.md): a JSON object with "user_id" (1..2^31-1),
 * "movie_id" (a known movie: in movie_ids[0..n_movies), sorted ascending, borrowed) and
 * "rating" (1..5), all JSON integers, and optionally "ts" (1..2^40; 0 in *out when absent) and
 * "event_id" (32 hex characters, any case: lowercased into out->event_id, "" when absent).
 * Duplicate keys are malformed; unknown extra fields are ignored. Pure: no I/O, no globals.
 * Returns MR_OK with *out filled, MR_EFORMAT for an empty body or
 * malformed JSON (an HTTP 400), MR_EINVAL for wrong types or values (a 422); on error a
 * one-line reason goes into msg (cap bytes, NUL-terminated). */
int event_parse_request(const char *body, size_t len, const int64_t *movie_ids, size_t n_movies,
                        mr_event *out, char *msg, size_t cap);

/* Fills id with a fresh random 32-hex-char id (from getrandom) and a NUL. MR_EIO on failure. */
int event_new_id(char id[EVENT_ID_LEN + 1]);

/* "an integer", "a string", ...: how a JSON value's type reads in an error message. */
const char *event_json_type_name(const json_t *v);

#endif
