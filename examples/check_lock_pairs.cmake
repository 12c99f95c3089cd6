# SPDX-License-Identifier: MIT
# Included by run_example.cmake (CHECK) for the programs whose children print
# "<i>:<pid> is running", sleep and print "<i>:<pid> is done" (or "is done!") while holding a
# lock: lock_critical_section and rlock. Mutual exclusion shows in the output as each
# "is running" line being followed directly by the same child's "is done" line, never by
# another child's line. Each child (each i and each pid) appears in exactly one such pair.
# In: lines, problems. Out: problems.

list(LENGTH lines n)
math(EXPR odd "${n} % 2")
if(NOT odd EQUAL 0)
  string(APPEND problems "stdout has an odd number of lines (${n}); expected running/done pairs\n")
endif()

set(seen_children "")
set(seen_pids "")
set(k 0)
while(k LESS n)
  list(GET lines ${k} running)
  math(EXPR k "${k} + 1")
  if(NOT running MATCHES "^([0-9]+):([0-9]+) is running$")
    string(APPEND problems "line ${k} '${running}': expected '<i>:<pid> is running'\n")
    continue()
  endif()
  set(child "${CMAKE_MATCH_1}")
  set(pid "${CMAKE_MATCH_2}")
  if(child IN_LIST seen_children)
    string(APPEND problems "child ${child} runs more than once\n")
  endif()
  if(pid IN_LIST seen_pids)
    string(APPEND problems "pid ${pid} appears for more than one child\n")
  endif()
  list(APPEND seen_children "${child}")
  list(APPEND seen_pids "${pid}")
  if(NOT k LESS n)
    string(APPEND problems "the last line is '${running}': its 'is done' line is missing\n")
    break()
  endif()
  list(GET lines ${k} done)
  math(EXPR k "${k} + 1")
  if(NOT done MATCHES "^${child}:${pid} is done!?$")
    string(APPEND problems
      "line ${k} '${done}' follows '${running}': another child got in, or the line is broken\n")
  endif()
endwhile()
