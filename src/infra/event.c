/* The rating event's JSON codec: strict types, clear one-line errors. */
#include "infra/event.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "core/mr_error.h"

#define EVENT_TS_MAX (1LL << 40)

const char *event_json_type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
    return "an integer";
  case JSON_REAL:
    return "a real number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  case JSON_NULL:
    return "null";
  }
  return "unknown";
}

static void event_err(char *err, size_t errlen, const char *fmt, const char *a, const char *b) {
  if (err && errlen)
    snprintf(err, errlen, fmt, a, b);
}

static int event_get_int(json_t *root, const char *key, json_int_t *out, char *err, size_t errlen) {
  json_t *v = json_object_get(root, key);
  if (!v) {
    event_err(err, errlen, "missing field '%s'%s", key, "");
    return MR_EFORMAT;
  }
  if (!json_is_integer(v)) {
    event_err(err, errlen, "'%s' must be an integer, got %s", key, event_json_type_name(v));
    return MR_EFORMAT;
  }
  *out = json_integer_value(v);
  return MR_OK;
}

int event_validate(const mr_event *ev, char *err, size_t errlen) {
  char num[32];
  size_t n = strnlen(ev->event_id, sizeof(ev->event_id));
  if (n != EVENT_ID_LEN) {
    event_err(err, errlen, "'event_id' must be %s hex characters%s", "32", "");
    return MR_EINVAL;
  }
  for (size_t i = 0; i < n; i++)
    if (!isxdigit((unsigned char)ev->event_id[i]) || isupper((unsigned char)ev->event_id[i])) {
      event_err(err, errlen, "'event_id' must be %s hex characters%s", "32 lowercase", "");
      return MR_EINVAL;
    }
  struct {
    const char *name;
    long long v, lo, hi;
  } r[] = {{"user_id", ev->user_id, 1, EVENT_ID_MAX},
           {"movie_id", ev->movie_id, 1, EVENT_ID_MAX},
           {"rating", ev->rating, 1, 5},
           {"ts", ev->ts, 1, EVENT_TS_MAX}};
  for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
    if (r[i].v < r[i].lo || r[i].v > r[i].hi) {
      char range[64];
      snprintf(num, sizeof(num), "%lld", r[i].v);
      snprintf(range, sizeof(range), "'%s' must be %lld..%lld, got", r[i].name, r[i].lo, r[i].hi);
      event_err(err, errlen, "%s %s", range, num);
      return MR_EINVAL;
    }
  return MR_OK;
}

int event_parse(const char *body, size_t len, mr_event *out, char *err, size_t errlen) {
  json_error_t jerr;
  json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
  int rc = MR_EFORMAT;
  if (!root) {
    if (err && errlen)
      snprintf(err, errlen, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
               jerr.text);
    return MR_EFORMAT;
  }
  if (!json_is_object(root)) {
    event_err(err, errlen, "the message must be a JSON object, got %s%s",
              event_json_type_name(root), "");
    goto done;
  }
  memset(out, 0, sizeof(*out));
  json_t *id = json_object_get(root, "event_id");
  if (!id) {
    event_err(err, errlen, "missing field '%s'%s", "event_id", "");
    goto done;
  }
  if (!json_is_string(id)) {
    event_err(err, errlen, "'%s' must be a string, got %s", "event_id", event_json_type_name(id));
    goto done;
  }
  if (json_string_length(id) != EVENT_ID_LEN) {
    event_err(err, errlen, "'event_id' must be %s hex characters%s", "32", "");
    goto done;
  }
  const char *s = json_string_value(id);
  for (size_t i = 0; i < EVENT_ID_LEN; i++)
    out->event_id[i] = (char)tolower((unsigned char)s[i]);
  json_int_t uid, mid, rating, ts;
  if (event_get_int(root, "user_id", &uid, err, errlen) ||
      event_get_int(root, "movie_id", &mid, err, errlen) ||
      event_get_int(root, "rating", &rating, err, errlen) ||
      event_get_int(root, "ts", &ts, err, errlen))
    goto done;
  /* range-check before narrowing rating to int */
  if (rating < 1 || rating > 5) {
    char num[32];
    snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, rating);
    event_err(err, errlen, "'rating' must be 1..5, got %s%s", num, "");
    goto done;
  }
  out->user_id = uid;
  out->movie_id = mid;
  out->rating = (int)rating;
  out->ts = ts;
  if (event_validate(out, err, errlen))
    goto done;
  rc = MR_OK;
done:
  json_decref(root);
  return rc;
}

/* Reads integer field `name` of obj within [lo, hi] into *out. required = 0: an absent field
 * leaves *out unchanged. On error writes the reason and returns MR_EINVAL. */
static int event_req_int(const json_t *obj, const char *name, long long lo, long long hi,
                         int required, int64_t *out, char *msg, size_t cap) {
  json_t *v = json_object_get(obj, name);
  if (!v) {
    if (!required)
      return MR_OK;
    snprintf(msg, cap, "missing field \"%s\"", name);
    return MR_EINVAL;
  }
  if (!json_is_integer(v)) {
    snprintf(msg, cap, "field \"%s\" must be an integer, got %s", name, event_json_type_name(v));
    return MR_EINVAL;
  }
  long long x = json_integer_value(v);
  if (x < lo || x > hi) {
    snprintf(msg, cap, "field \"%s\" must be between %lld and %lld, got %lld", name, lo, hi, x);
    return MR_EINVAL;
  }
  *out = x;
  return MR_OK;
}

/* Reads the optional client-chosen "event_id" (32 hex characters, lowercased into out): a
 * client that sends one and reuses it on every retry of the same rating cannot get it stored
 * twice, since the consumer stores each event id once. Absent: out stays "". On error writes
 * the reason and returns MR_EINVAL. */
static int event_req_id(const json_t *obj, char out[EVENT_ID_LEN + 1], char *msg, size_t cap) {
  json_t *v = json_object_get(obj, "event_id");
  if (!v)
    return MR_OK;
  const char *id = json_string_value(v);
  size_t n = id ? json_string_length(v) : 0;
  int ok = n == EVENT_ID_LEN;
  for (size_t i = 0; ok && i < n; i++)
    ok = isxdigit((unsigned char)id[i]);
  if (!ok && !id)
    snprintf(msg, cap, "field \"event_id\" must be a string of 32 hex characters, got %s",
             event_json_type_name(v));
  else if (!ok)
    snprintf(msg, cap, "field \"event_id\" must be 32 hex characters, got %zu characters%s", n,
             n == EVENT_ID_LEN ? " with a non-hex one" : "");
  if (!ok)
    return MR_EINVAL;
  for (size_t i = 0; i < n; i++)
    out[i] = (char)tolower((unsigned char)id[i]);
  out[n] = '\0';
  return MR_OK;
}

/* 1 when id is in the sorted ids[0..n). */
static int event_known(const int64_t *ids, size_t n, int64_t id) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (ids[mid] < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return ids && lo < n && ids[lo] == id;
}

int event_parse_request(const char *body, size_t len, const int64_t *movie_ids, size_t n_movies,
                        mr_event *out, char *msg, size_t cap) {
  json_error_t je;
  int64_t rating = 0;
  int rc = MR_EINVAL;
  memset(out, 0, sizeof(*out));
  if (!body || len == 0) {
    snprintf(msg, cap,
             "empty body: expected a JSON object {\"user_id\", \"movie_id\", \"rating\"}");
    return MR_EFORMAT;
  }
  json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
  if (!j) {
    snprintf(msg, cap, "malformed JSON: %s (line %d, column %d, position %d)", je.text, je.line,
             je.column, je.position);
    return MR_EFORMAT;
  }
  if (!json_is_object(j)) {
    snprintf(msg, cap, "the body must be a JSON object, got %s", event_json_type_name(j));
    goto done;
  }
  if (event_req_int(j, "user_id", 1, EVENT_ID_MAX, 1, &out->user_id, msg, cap) ||
      event_req_int(j, "movie_id", 1, EVENT_ID_MAX, 1, &out->movie_id, msg, cap) ||
      event_req_int(j, "rating", 1, 5, 1, &rating, msg, cap) ||
      event_req_int(j, "ts", 1, EVENT_TS_MAX, 0, &out->ts, msg, cap) ||
      event_req_id(j, out->event_id, msg, cap))
    goto done;
  if (!event_known(movie_ids, n_movies, out->movie_id)) {
    snprintf(msg, cap, "unknown movie_id %lld", (long long)out->movie_id);
    goto done;
  }
  out->rating = (int)rating;
  rc = MR_OK;
done:
  json_decref(j);
  return rc;
}

int event_format(const mr_event *ev, char *buf, size_t cap, size_t *len) {
  if (event_validate(ev, NULL, 0))
    return MR_EINVAL;
  int n = snprintf(buf, cap,
                   "{\"event_id\":\"%s\",\"user_id\":%" PRId64 ",\"movie_id\":%" PRId64
                   ",\"rating\":%d,\"ts\":%" PRId64 "}",
                   ev->event_id, ev->user_id, ev->movie_id, ev->rating, ev->ts);
  if (n < 0 || (size_t)n >= cap)
    return MR_ERANGE;
  if (len)
    *len = (size_t)n;
  return MR_OK;
}

int event_new_id(char id[EVENT_ID_LEN + 1]) {
  unsigned char raw[EVENT_ID_LEN / 2];
  size_t got = 0;
  while (got < sizeof(raw)) {
    ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
    if (n < 0)
      return MR_EIO;
    got += (size_t)n;
  }
  for (size_t i = 0; i < sizeof(raw); i++)
    snprintf(id + 2 * i, 3, "%02x", raw[i]);
  return MR_OK;
}
