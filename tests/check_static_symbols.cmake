# SPDX-License-Identifier: MIT
# build.static_symbols: every global symbol a static archive defines is public `mproc_*` or
# internal `mproc__*`. An internal function named `os_init` or `mp_add` would otherwise clash with
# (or silently replace) a function of the product that links the archive: a static library has no
# hidden visibility to protect it.
#   -DNM=<nm for the target>  -DARCHIVES=<archive>[,<archive>...]
cmake_minimum_required(VERSION 3.20)
if(NOT NM OR NOT ARCHIVES)
  message(FATAL_ERROR "pass -DNM=<nm> -DARCHIVES=<archive>[,<archive>...]")
endif()
string(REPLACE "," ";" ARCHIVES "${ARCHIVES}")

set(good 0)
set(bad "")
foreach(archive IN LISTS ARCHIVES)
  execute_process(COMMAND ${NM} -g --defined-only ${archive}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} -g --defined-only ${archive} failed (${rc}):\n${err}")
  endif()
  string(REPLACE "\n" ";" lines "${out}")
  foreach(line IN LISTS lines)
    # "<address> <type> <name>"; member headers ("file.o:") and blank lines have no type letter.
    if(NOT line MATCHES "^[0-9a-fA-F]* +[A-Za-z] +([^ ]+)$")
      continue()
    endif()
    set(name "${CMAKE_MATCH_1}")
    # Names the toolchain derives from ours: mingw's pointer stubs for data imports
    # (.refptr.<name>), AddressSanitizer's one-definition-rule markers (__odr_asan.<name>,
    # clang: __odr_asan_gen_<name>) and the control and template blocks of a thread-local
    # variable where TLS is emulated (mingw: __emutls_v.<name>, __emutls_t.<name>).
    string(REGEX REPLACE "^(\\.refptr\\.|__odr_asan\\.|__odr_asan_gen_)" "" name "${name}")
    string(REGEX REPLACE "^__emutls_[vt]\\." "" name "${name}")
    if(name MATCHES "^_?mproc_")
      math(EXPR good "${good} + 1")
    else()
      list(APPEND bad "${archive}: ${line}")
    endif()
  endforeach()
endforeach()

if(bad)
  list(JOIN bad "\n  " bad_text)
  message(FATAL_ERROR "global symbols outside mproc_* / mproc__*:\n  ${bad_text}")
endif()
if(good EQUAL 0)
  message(FATAL_ERROR "no mproc_ symbol found in ${ARCHIVES}")
endif()
message(STATUS "${good} global symbols, all mproc_* or mproc__*")
