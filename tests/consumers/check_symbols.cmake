# SPDX-License-Identifier: MIT
# build.symbols: a shared libmproc exports only mproc_* symbols; anything else (a function that
# lost its `static`, a missing hidden visibility) could collide in the products that load it.
#   -DNM=<nm>  -DLIBRARY=<path of the built shared library>
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)

if(NOT NM OR NOT LIBRARY)
  message(FATAL_ERROR "pass -DNM=<nm> -DLIBRARY=<libmproc shared library>")
endif()
if(APPLE)
  set(nm_args -g -U -j)       # external, defined, names only; Mach-O adds a leading '_'
  set(name_prefix "_")
else()
  set(nm_args -D --defined-only)
  set(name_prefix "")
endif()
execute_process(COMMAND ${NM} ${nm_args} ${LIBRARY}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} ${nm_args} ${LIBRARY} failed (${rc}):\n${err}")
endif()

string(REPLACE "\n" ";" lines "${out}")
set(good 0)
set(bad "")
foreach(line IN LISTS lines)
  string(STRIP "${line}" line)
  if(line STREQUAL "")
    continue()
  endif()
  # "<address> <type> <name>[@@version]" (ELF) or "<name>" (Mach-O with -j): take the name.
  string(REGEX REPLACE "^.*[ \t]" "" name "${line}")
  string(REGEX REPLACE "@.*$" "" name "${name}")
  if(name MATCHES "^${name_prefix}mproc_")
    math(EXPR good "${good} + 1")
  else()
    list(APPEND bad "${line}")
  endif()
endforeach()

if(bad)
  list(JOIN bad "\n  " bad_text)
  message(FATAL_ERROR "${LIBRARY} exports symbols outside the mproc_ namespace:\n  ${bad_text}")
endif()
if(good EQUAL 0)
  message(FATAL_ERROR "${LIBRARY} exports no mproc_ symbol at all:\n${out}")
endif()
message(STATUS "${LIBRARY}: ${good} exported symbols, all mproc_*")
