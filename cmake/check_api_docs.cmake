# build.api_documented: runs Doxygen over include/mproc.h and fails when it reports anything,
# above all a public symbol without a /** */ comment (WARN_IF_UNDOCUMENTED).
# -DDOXYGEN=<doxygen> -DDOXYFILE=<configured Doxyfile> -DLOG=<its WARN_LOGFILE>
file(REMOVE ${LOG})
execute_process(COMMAND ${DOXYGEN} ${DOXYFILE} RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "doxygen failed (${rc})")
endif()
file(READ ${LOG} warnings)
string(STRIP "${warnings}" warnings)
if(NOT warnings STREQUAL "")
  message(FATAL_ERROR "the API reference has warnings (document every public symbol):\n${warnings}")
endif()
message(STATUS "every public symbol of mproc.h is documented")
