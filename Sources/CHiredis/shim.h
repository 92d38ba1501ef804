#ifndef CHIREDIS_SHIM_H
#define CHIREDIS_SHIM_H

#include <hiredis/hiredis.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

// hiredis's status codes are macros that Swift imports as `Int32` constants already; the shims below exist
// only for what Swift cannot express directly.

/// `redisReader.errstr` is a fixed `char[128]`, which Swift imports as a 128-tuple; this hands it out as a C
/// string instead.
static inline const char *CHiredis_readerErrstr(const redisReader *reader) {
    return reader->errstr;
}

/// Room for at least `minimum` more bytes at the end of the reader's buffer, so the transport can read from the
/// socket straight into it instead of into a buffer of its own that `redisReaderFeed` would copy. Returns where
/// the bytes go and sets `available` to how many fit; NULL after a protocol error or when out of memory. Keeps the
/// bookkeeping `redisReaderFeed` does: an empty buffer with more than `maxbuf` unused bytes is released first.
/// Call ``CHiredis_readerCommit`` with the number of bytes written there.
static inline char *CHiredis_readerSpace(redisReader *reader, size_t minimum, size_t *available) {
    if (reader->err) return NULL;
    if (reader->len == 0 && reader->maxbuf != 0 && sdsavail(reader->buf) > reader->maxbuf) {
        sdsfree(reader->buf);
        reader->buf = sdsempty();
        reader->pos = 0;
        if (reader->buf == NULL) return NULL;
    }
    sds grown = sdsMakeRoomFor(reader->buf, minimum);
    if (grown == NULL) return NULL;
    reader->buf = grown;
    *available = sdsavail(reader->buf);
    return reader->buf + sdslen(reader->buf);
}

/// Adds `count` bytes written at ``CHiredis_readerSpace``'s pointer to what the reader parses.
static inline void CHiredis_readerCommit(redisReader *reader, size_t count) {
    sdsIncrLen(reader->buf, (ssize_t)count);
    reader->len = sdslen(reader->buf);
}

/// `pthread_setname_np` is a GNU extension: glibc declares it only under `_GNU_SOURCE`, which Swift's Glibc
/// module is not built with, so Swift cannot see it. glibc has exported it since 2.12; this declares it and hands
/// it on. Linux keeps 15 bytes of a name and fails with ERANGE on a longer one.
extern int pthread_setname_np(pthread_t thread, const char *name);

static inline int CHiredis_setThreadName(pthread_t thread, const char *name) {
    return pthread_setname_np(thread, name);
}

#endif
