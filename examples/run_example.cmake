# SPDX-License-Identifier: MIT
# Runs one example for CTest: cmake -DEXE=path [-DEMULATOR="wine"] [-DARGS="--method spawn"]
#   -DEXPECT="regex&&regex..." [-DREJECT=regex] [-DLINES=regex] [-DNLINES=n] [-DCHECK=file]
#   -P run_example.cmake
# Passes when the program exits with 0, its output (stdout and stderr) matches every EXPECT
# pattern and no REJECT pattern. Both the exit code and the output are checked because CTest's
# PASS_REGULAR_EXPRESSION alone would ignore the exit code.
# For programs whose lines come from several processes, stdout can also be checked line by line
# (line ends "\r\n" count as "\n"; the lines must not contain ';' or brackets):
#   LINES   every line of stdout matches this regex as a whole, so a line that holds parts of
#           two processes' output fails;
#   NLINES  stdout has exactly this many lines;
#   CHECK   a CMake script included after the other checks, with `lines` (stdout's lines, a
#           list) and `problems` set; it appends what it finds wrong to `problems`.
cmake_minimum_required(VERSION 3.20) # the project's policies, in script mode too
separate_arguments(emulator NATIVE_COMMAND "${EMULATOR}")
separate_arguments(args NATIVE_COMMAND "${ARGS}")
execute_process(COMMAND ${emulator} ${EXE} ${args}
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
message("---- ${EXE} ${ARGS}\n${out}---- stderr\n${err}---- exit: ${rc}")

set(problems "")
if(NOT rc STREQUAL "0")
  string(APPEND problems "exit status ${rc}, expected 0\n")
endif()
string(REPLACE "&&" ";" patterns "${EXPECT}")
foreach(p IN LISTS patterns)
  if(NOT "${out}${err}" MATCHES "${p}")
    string(APPEND problems "output lacks /${p}/\n")
  endif()
endforeach()
if(NOT "${REJECT}" STREQUAL "" AND "${out}${err}" MATCHES "${REJECT}")
  string(APPEND problems "output matches /${REJECT}/, which it must not\n")
endif()

if(NOT "${LINES}${NLINES}${CHECK}" STREQUAL "")
  string(REPLACE "\r\n" "\n" text "${out}")
  string(REGEX REPLACE "\n$" "" text "${text}")
  string(REPLACE "\n" ";" lines "${text}")
  list(LENGTH lines nlines)
  if(NOT "${NLINES}" STREQUAL "" AND NOT nlines EQUAL NLINES)
    string(APPEND problems "stdout has ${nlines} lines, expected ${NLINES}\n")
  endif()
  if(NOT "${LINES}" STREQUAL "")
    foreach(line IN LISTS lines)
      if(NOT line MATCHES "^(${LINES})$")
        string(APPEND problems "stdout line '${line}' is not /${LINES}/\n")
      endif()
    endforeach()
  endif()
  if(NOT "${CHECK}" STREQUAL "")
    include("${CHECK}")
  endif()
endif()

if(NOT problems STREQUAL "")
  message(FATAL_ERROR "${problems}")
endif()
