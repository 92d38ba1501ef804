#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

// OpenSSL's functions import into Swift as they are; the shims below exist only for the macros Swift cannot
// call, each over the function the macro expands to.

/// `SSL_CTX_set_min_proto_version` is a macro over `SSL_CTX_ctrl`.
static inline int COpenSSL_setMinimumVersion(SSL_CTX *context, int version) {
    return (int)SSL_CTX_set_min_proto_version(context, version);
}

/// `SSL_CTX_set_mode` is a macro over `SSL_CTX_ctrl`.
static inline long COpenSSL_setMode(SSL_CTX *context, long mode) {
    return SSL_CTX_set_mode(context, mode);
}

/// `SSL_CTX_set_read_ahead` is a macro over `SSL_CTX_ctrl`.
static inline void COpenSSL_setReadAhead(SSL_CTX *context, int on) {
    SSL_CTX_set_read_ahead(context, on);
}

/// `SSL_set_tlsext_host_name` (SNI) is a macro over `SSL_ctrl`.
static inline int COpenSSL_setServerNameIndication(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

#endif
