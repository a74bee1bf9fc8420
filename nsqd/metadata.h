/* metadata: nsqd.dat in the data path, the list of topics and channels with their paused state
 * in nsqd's JSON format ({"topics":[{"name","paused","channels":[{"name","paused"}]}],
 * "version"}), never listing ephemeral ones. Read at start to recreate them (their disk queues
 * reopen with them); rewritten atomically (temp file, fsync, rename, directory fsync) after
 * every create, delete, pause and unpause, and at exit. Reaches topics only through nsqd. */
#ifndef CNSQ_NSQD_METADATA_H
#define CNSQ_NSQD_METADATA_H

#include <stddef.h>

#include "nsqd/nsqd.h"

typedef struct metadata metadata_t;

/* Borrows n (it outlives the metadata). NULL on OOM. */
metadata_t *metadata_new(nsqd_t *n);
void metadata_free(metadata_t *md);

/* Reads nsqd.dat and recreates the topics and channels it lists, paused as they were. A
 * missing file is a fresh start (0). -1 with err when the file cannot be read or parsed: nsqd
 * must refuse to start, and metadata_write will never overwrite that file. */
int metadata_load(metadata_t *md, char *err, size_t errlen);

/* Something changed: the file is rewritten at the end of this loop iteration (one write for
 * a burst of changes). Matches nsqd_hooks_t.changed (ctx = md). */
void metadata_changed(void *md);

/* Writes the file now (exit). 0, or -1 with err. */
int metadata_write(metadata_t *md, char *err, size_t errlen);

#endif
