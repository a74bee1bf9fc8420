/* fuzz_wire: untrusted bytes through the parsers a client reaches first: the V2 command
 * tokenizer, message decoding, message ids, strict integers and names. Each input is split on
 * its first byte to pick a parser. Built as a libFuzzer target with -DCNSQ_FUZZ=ON, and as a
 * corpus replayer (tests/fuzz/replay.c) in every build. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/guid.h"
#include "common/util.h"
#include "common/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t which = data[0];
    data++;
    size--;
    char *buf = malloc(size + 1); /* wire_split_command writes a NUL at line[len] */
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    switch (which % 4) {
    case 0: {
        char *tok[8];
        int n = wire_split_command(buf, size, tok, 8);
        for (int i = 0; i < n; i++)
            (void)strlen(tok[i]);
        break;
    }
    case 1: {
        wire_msg_header_t h;
        const uint8_t *body;
        size_t blen;
        if (wire_msg_decode(data, size, &h, &body, &blen) == 0 && blen != size - 26)
            abort();
        break;
    }
    case 2: {
        uint64_t id;
        char hex[GUID_HEX_LEN];
        if (guid_from_hex(buf, size, &id) == 0) {
            guid_to_hex(id, hex);
            uint64_t back;
            if (guid_from_hex(hex, GUID_HEX_LEN, &back) != 0 || back != id)
                abort();
        }
        break;
    }
    default: {
        int64_t v;
        uint64_t u;
        (void)parse_i64(buf, size, &v);
        (void)parse_u64(buf, size, &u);
        (void)name_is_valid(buf, size);
        break;
    }
    }
    free(buf);
    return 0;
}
