/* SPDX-License-Identifier: MIT */
/** \file
 * Errors: every keel call that can fail returns 0 (or a count) on success
 * and a negative errno on failure. keel_strerror turns one into text.
 */
#ifndef KEEL_ERROR_H
#define KEEL_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Text for a keel result: "success" for values >= 0, the errno's message
 * for negative ones. Thread-safe; the string is static.
 */
const char *keel_strerror(long code);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_ERROR_H */
