# Runs one example for CTest: cmake -DEXE=path [-DEMULATOR="wine"] [-DARGS="--method spawn"]
#   -DEXPECT="regex&&regex..." [-DREJECT=regex] -P run_example.cmake
# Passes when the program exits with 0, its output (stdout and stderr) matches every EXPECT
# pattern and no REJECT pattern. Both the exit code and the output are checked because CTest's
# PASS_REGULAR_EXPRESSION alone would ignore the exit code.
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
if(NOT problems STREQUAL "")
  message(FATAL_ERROR "${problems}")
endif()
