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

/// Element `index` of an array reply. `redisReply.element` is a `struct redisReply **`; indexing it from Swift
/// works but reads poorly at every call site.
static inline const redisReply *CHiredis_element(const redisReply *reply, size_t index) {
    return reply->element[index];
}

/// `pthread_setname_np` is a GNU extension: glibc declares it only under `_GNU_SOURCE`, which Swift's Glibc
/// module is not built with, so Swift cannot see it. glibc has exported it since 2.12; this declares it and hands
/// it on. Linux keeps 15 bytes of a name and fails with ERANGE on a longer one.
extern int pthread_setname_np(pthread_t thread, const char *name);

static inline int CHiredis_setThreadName(pthread_t thread, const char *name) {
    return pthread_setname_np(thread, name);
}

#endif
