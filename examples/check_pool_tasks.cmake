# SPDX-License-Identifier: MIT
# Included by run_example.cmake (CHECK) for pool_long_time_task, whose stdout is
#   Parent process <pid>.
#   run task <i>, <worker pid>          ) for each task i, in the order the workers run them:
#   task <i> runs <seconds> seconds.    ) "run task i" before "task i runs"
#   All subprocess done.
# What the pool must show: every task ran once and finished before close() and join()
# returned (the last line), in worker processes other than the parent, at most four of them
# (Pool(4)). The LINES and NLINES checks have already matched each line's form.
# In: lines, problems. Out: problems.

set(tasks 5)
set(workers 4)

list(LENGTH lines n)
if(n LESS 2)
  string(APPEND problems "too few lines to check the tasks\n")
  return()
endif()
list(GET lines 0 first)
list(GET lines -1 last)
if(NOT first MATCHES "^Parent process ([0-9]+)[.]$")
  string(APPEND problems "the first line is '${first}', not 'Parent process <pid>.'\n")
endif()
set(parent "${CMAKE_MATCH_1}")
if(NOT last STREQUAL "All subprocess done.")
  string(APPEND problems "the last line is '${last}': join returned before the tasks ended\n")
endif()

set(pids "")
math(EXPR last_task "${tasks} - 1")
foreach(i RANGE ${last_task})
  set(run_at -1)
  set(done_at -1)
  set(k 0)
  foreach(line IN LISTS lines)
    if(line MATCHES "^run task ${i}, ([0-9]+)$")
      if(NOT run_at EQUAL -1)
        string(APPEND problems "task ${i} started twice\n")
      endif()
      set(run_at ${k})
      list(APPEND pids "${CMAKE_MATCH_1}")
      if(CMAKE_MATCH_1 STREQUAL parent)
        string(APPEND problems "task ${i} ran in the parent process\n")
      endif()
    elseif(line MATCHES "^task ${i} runs ")
      if(NOT done_at EQUAL -1)
        string(APPEND problems "task ${i} finished twice\n")
      endif()
      set(done_at ${k})
    endif()
    math(EXPR k "${k} + 1")
  endforeach()
  if(run_at EQUAL -1 OR done_at EQUAL -1)
    string(APPEND problems "task ${i} did not both start and finish\n")
  elseif(done_at LESS run_at)
    string(APPEND problems "task ${i} finished before it started\n")
  endif()
endforeach()

list(REMOVE_DUPLICATES pids)
list(LENGTH pids npids)
if(npids GREATER workers)
  string(APPEND problems "the tasks ran in ${npids} processes, more than the pool's ${workers}\n")
endif()
