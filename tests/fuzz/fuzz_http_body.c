/* fuzz_http_body: untrusted HTTP input: query strings and /mpub bodies (text and binary).
 * Every span returned must lie inside the body. Built as a libFuzzer target with
 * -DCNSQ_FUZZ=ON, and as a corpus replayer in every build. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/httputil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_spans(const httpd_span_t *s, size_t n, size_t size)
{
    for (size_t i = 0; i < n; i++)
        if (s[i].off > size || s[i].len > size - s[i].off)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    httpd_span_t *spans = NULL;
    size_t n = 0;
    if (!httpd_mpub_split_text(data, size, 1024, 65536, &spans, &n))
        check_spans(spans, n, size);
    free(spans);
    spans = NULL;
    if (!httpd_mpub_split_binary(data, size, 1024, 65536, &spans, &n))
        check_spans(spans, n, size);
    free(spans);
    char *q = malloc(size + 1);
    if (!q)
        return 0;
    memcpy(q, data, size);
    q[size] = '\0';
    httpd_query_t query;
    if (httpd_query_parse(q, &query) != -2) {
        (void)httpd_query_lookup(&query, "topic");
        httpd_query_free(&query);
    }
    free(q);
    return 0;
}
