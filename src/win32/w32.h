/*
 * Helpers shared by the Win32 backend files only (never included by the core).
 */
#ifndef MPROC_W32_H
#define MPROC_W32_H

#include <windows.h>

#include "os.h"

/* clock.c: milliseconds left until deadline for one wait call: INFINITE for OS_NO_DEADLINE,
 * 0 once passed, rounded up (a wait must not end before the deadline), and capped below
 * INFINITE so callers loop for waits longer than ~24 days. */
DWORD w32_wait_ms(int64_t deadline);

/* sys.c: UTF-8 -> malloc'd UTF-16 (NULL on failure, error recorded by os_error). */
wchar_t *w32_to_utf16(const char *s, int *err);
/* sys.c: UTF-16 -> UTF-8 into buf; MPROC_ERANGE if it does not fit with its NUL. */
int w32_to_utf8(const wchar_t *w, char *buf, size_t cap);

#endif /* MPROC_W32_H */
