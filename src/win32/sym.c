/* SPDX-License-Identifier: MIT */
/*
 * Finding a function again in a re-executed child: (module path, offset from the module base).
 * A spawned child runs the same image, so the offset is stable even though ASLR moves the base.
 * The core checks a hash of the code bytes at the address, so a different build is caught.
 */
#include <windows.h>

#include <stdlib.h>

#include "internal.h"
#include "w32.h"
#include "../alloc.h"

/* The module's path as UTF-8; "" for the main executable so a child started from a renamed
 * or relocated copy still matches. */
static int module_name(HMODULE mod, char *module, size_t cap) {
  if (mod == GetModuleHandleW(NULL)) {
    if (cap < 1)
      return MPROC_ERANGE;
    module[0] = '\0';
    return 0;
  }
  /* GetModuleFileNameW truncates silently (len == wcap); grow until the path fits. */
  for (DWORD wcap = MAX_PATH; wcap <= 32768; wcap *= 2) {
    wchar_t *w = mproc__malloc(wcap * sizeof *w);
    if (!w)
      return MPROC_ENOMEM;
    DWORD len = GetModuleFileNameW(mod, w, wcap);
    int rc = len == 0     ? mproc__os_last_error()
             : len < wcap ? mproc__w32_to_utf8(w, module, cap)
                          : 0;
    mproc__free(w);
    if (len < wcap)
      return rc;
  }
  return MPROC_ERANGE;
}

int mproc__os_sym_locate(const void *addr, char *module, size_t cap, uint64_t *offset,
                         size_t *avail) {
  HMODULE mod;
  MEMORY_BASIC_INFORMATION mbi;
  if (!GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
                              GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                          (LPCWSTR)addr, &mod)) {
    mproc__set_os_error((int)GetLastError());
    return MPROC_ENOTARGET; /* heap, stack, JIT code: nothing a child can find again */
  }
  if (VirtualQuery(addr, &mbi, sizeof mbi) == 0)
    return mproc__os_last_error();
  int rc = module_name(mod, module, cap);
  if (rc)
    return rc;
  *offset = (uint64_t)((const char *)addr - (const char *)mod);
  /* The region holding addr (e.g. .text) ends before the next section with other protection. */
  size_t left = (size_t)((const char *)mbi.BaseAddress + mbi.RegionSize - (const char *)addr);
  *avail = left ? left : 1;
  return 0;
}

/* SizeOfImage from the PE header: the bound for offsets we accept. */
static uint64_t image_size(HMODULE mod) {
  const IMAGE_DOS_HEADER *dos = (const IMAGE_DOS_HEADER *)mod;
  if (dos->e_magic != IMAGE_DOS_SIGNATURE)
    return 0;
  const IMAGE_NT_HEADERS *nt = (const IMAGE_NT_HEADERS *)((const char *)mod + dos->e_lfanew);
  return nt->Signature == IMAGE_NT_SIGNATURE ? nt->OptionalHeader.SizeOfImage : 0;
}

static int load_module(const char *module, HMODULE *mod) {
  if (module[0] == '\0') {
    *mod = GetModuleHandleW(NULL);
    return 0;
  }
  int rc;
  wchar_t *w = mproc__w32_to_utf16(module, &rc);
  if (!w)
    return rc;
  /* Loaded on purpose and never freed: the target runs from it for the rest of the process. */
  *mod = GetModuleHandleW(w);
  if (!*mod)
    *mod = LoadLibraryW(w);
  if (!*mod)
    mproc__set_os_error((int)GetLastError());
  mproc__free(w);
  return *mod ? 0 : MPROC_ENOTARGET;
}

int mproc__os_sym_resolve(const char *module, uint64_t offset, void **addr) {
  HMODULE mod = NULL;
  int rc = load_module(module, &mod);
  if (rc)
    return rc;
  if (offset >= image_size(mod))
    return MPROC_ENOTARGET;
  *addr = (char *)mod + offset;
  return 0;
}
