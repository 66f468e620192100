# SPDX-License-Identifier: BSD-3-Clause
# SluiceTesting: helpers that register sluice's tests with CTest.
#
#   sl_add_unit_test(NAME <name> SOURCES <src>... [LIBS <lib>...] [INTERNAL]
#                    [TIMEOUT <s>] [LABELS <label>...] [ARGS <arg>...])
#     A CUnit program run directly (no mpiexec); ctest name <name>, label "unit",
#     TIMEOUT 60 unless given. Links CUnit::CUnit and sluice::sluice, or with INTERNAL
#     the static sluice_internal (same objects, internal sl__* symbols visible, lib/src on
#     the include path).
#
#   sl_add_mpi_test(NAME <name> [SOURCES <src>...] RANKS <n>... [ARGS <arg>...]
#                   [TIMEOUT <s>] [LABELS <label>...] [LIBS <lib>...] [INTERNAL]
#                   [ENVIRONMENT <VAR=value>...])
#     Builds executable <name> once (later calls with the same NAME reuse it and may omit
#     SOURCES) and registers one ctest per rank count, named <name>.np<n>, running
#       MPIEXEC_EXECUTABLE MPIEXEC_NUMPROC_FLAG <n> --oversubscribe MPIEXEC_PREFLAGS
#       SLUICE_MPI_EXTRA_FLAGS <exe> MPIEXEC_POSTFLAGS <args>
#     with PROCESSORS min(n,2), TIMEOUT 120 unless given, LABELS "mpi" plus LABELS.
#     Links sluice::sluice (or sluice_internal with INTERNAL) and CUnit::CUnit.
#
#   sl_add_app_test(NAME <name> COMMAND <cmd> [<arg>...] [TIMEOUT <s>] [LABELS <label>...]
#                   [PROCESSORS <n>] [ENVIRONMENT <VAR=value>...] [WORKING_DIRECTORY <dir>])
#     A command (usually a shell script under tests/apps) with label "app", TIMEOUT 120
#     and PROCESSORS 2 unless given. The command sees in its environment:
#       SLUICE_SOURCE_DIR, SLUICE_BINARY_DIR, SLUICE_MPIEXEC (mpiexec path),
#       SLUICE_MPIEXEC_NP (e.g. "-n"), SLUICE_MPIEXEC_FLAGS (space separated: the
#       --oversubscribe flag, MPIEXEC_PREFLAGS and SLUICE_MPI_EXTRA_FLAGS), and
#       SLUICE_BIN_DIR (the build's apps/ folder), so a script runs
#       "$SLUICE_MPIEXEC" $SLUICE_MPIEXEC_NP 2 $SLUICE_MPIEXEC_FLAGS <app> ...
#     COMMAND may use generator expressions such as $<TARGET_FILE:sluice-wordcount>.
#
# Cache variables:
#   SLUICE_MPI_EXTRA_FLAGS       extra mpiexec flags, a ;-list, e.g. "--mca;btl;self,tcp"
#   SLUICE_MPI_OVERSUBSCRIBE_FLAG "--oversubscribe" for Open MPI, empty otherwise

include_guard(GLOBAL)

set(SLUICE_MPI_EXTRA_FLAGS "" CACHE STRING
  "Extra mpiexec flags for the MPI and app tests, as a ;-list (e.g. --mca;btl;self,tcp)")

if(NOT DEFINED SLUICE_MPI_OVERSUBSCRIBE_FLAG)
  execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version
    OUTPUT_VARIABLE _sl_mpiexec_version ERROR_VARIABLE _sl_mpiexec_version
    RESULT_VARIABLE _sl_rc TIMEOUT 30)
  if(_sl_mpiexec_version MATCHES "Open MPI|OpenRTE|Open RTE|PRRTE")
    set(_sl_oversub "--oversubscribe")
  else()
    set(_sl_oversub "")
  endif()
  set(SLUICE_MPI_OVERSUBSCRIBE_FLAG "${_sl_oversub}" CACHE STRING
    "mpiexec flag that allows more ranks than cores (Open MPI: --oversubscribe)")
endif()

set(SLUICE_TEST_MAX_PROCESSORS 2 CACHE STRING
  "Upper bound of the PROCESSORS property of MPI tests (cores ctest may count on)")

function(_sl_test_link target internal libs)
  if(internal)
    target_link_libraries(${target} PRIVATE sluice_internal)
  else()
    target_link_libraries(${target} PRIVATE sluice::sluice)
  endif()
  if(TARGET CUnit::CUnit)
    target_link_libraries(${target} PRIVATE CUnit::CUnit)
  endif()
  if(libs)
    target_link_libraries(${target} PRIVATE ${libs})
  endif()
endfunction()

function(sl_add_unit_test)
  cmake_parse_arguments(PARSE_ARGV 0 T "INTERNAL" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS;ARGS")
  if(NOT T_NAME OR NOT T_SOURCES)
    message(FATAL_ERROR "sl_add_unit_test: NAME and SOURCES are required")
  endif()
  if(T_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "sl_add_unit_test(${T_NAME}): unknown arguments ${T_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT TARGET CUnit::CUnit)
    message(FATAL_ERROR "sl_add_unit_test(${T_NAME}): CUnit::CUnit is missing")
  endif()
  if(NOT DEFINED T_TIMEOUT)
    set(T_TIMEOUT 60)
  endif()
  set(labels unit ${T_LABELS})
  add_executable(${T_NAME} ${T_SOURCES})
  _sl_test_link(${T_NAME} "${T_INTERNAL}" "${T_LIBS}")
  add_test(NAME ${T_NAME} COMMAND ${T_NAME} ${T_ARGS})
  set_tests_properties(${T_NAME} PROPERTIES
    LABELS "${labels}"
    TIMEOUT ${T_TIMEOUT})
endfunction()

function(sl_add_mpi_test)
  cmake_parse_arguments(PARSE_ARGV 0 T "INTERNAL" "NAME;TIMEOUT;TARGET"
    "SOURCES;RANKS;ARGS;LABELS;LIBS;ENVIRONMENT")
  if(NOT T_NAME OR NOT T_RANKS)
    message(FATAL_ERROR "sl_add_mpi_test: NAME and RANKS are required")
  endif()
  if(T_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "sl_add_mpi_test(${T_NAME}): unknown arguments ${T_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT DEFINED T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  # TARGET: run an executable made by an earlier call (a variant of its test, e.g. under
  # another ENVIRONMENT); else the executable is NAME, built from SOURCES the first time.
  if(NOT T_TARGET)
    set(T_TARGET ${T_NAME})
  endif()
  if(NOT TARGET ${T_TARGET})
    if(NOT T_SOURCES)
      message(FATAL_ERROR "sl_add_mpi_test(${T_NAME}): SOURCES is required the first time")
    endif()
    add_executable(${T_NAME} ${T_SOURCES})
    _sl_test_link(${T_NAME} "${T_INTERNAL}" "${T_LIBS}")
  endif()
  set(labels mpi ${T_LABELS})
  foreach(n IN LISTS T_RANKS)
    set(test_name "${T_NAME}.np${n}")
    add_test(NAME ${test_name}
      COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${n}
              ${SLUICE_MPI_OVERSUBSCRIBE_FLAG} ${MPIEXEC_PREFLAGS} ${SLUICE_MPI_EXTRA_FLAGS}
              $<TARGET_FILE:${T_TARGET}> ${MPIEXEC_POSTFLAGS} ${T_ARGS})
    set(procs ${n})
    if(procs GREATER SLUICE_TEST_MAX_PROCESSORS)
      set(procs ${SLUICE_TEST_MAX_PROCESSORS})
    endif()
    set_tests_properties(${test_name} PROPERTIES
      PROCESSORS ${procs}
      TIMEOUT ${T_TIMEOUT}
      LABELS "${labels}")
    if(T_ENVIRONMENT)
      set_tests_properties(${test_name} PROPERTIES ENVIRONMENT "${T_ENVIRONMENT}")
    endif()
  endforeach()
endfunction()

function(sl_add_app_test)
  cmake_parse_arguments(PARSE_ARGV 0 T "" "NAME;TIMEOUT;PROCESSORS;WORKING_DIRECTORY"
    "COMMAND;LABELS;ENVIRONMENT")
  if(NOT T_NAME OR NOT T_COMMAND)
    message(FATAL_ERROR "sl_add_app_test: NAME and COMMAND are required")
  endif()
  if(T_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "sl_add_app_test(${T_NAME}): unknown arguments ${T_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT DEFINED T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  if(NOT DEFINED T_PROCESSORS)
    set(T_PROCESSORS 2)
  endif()
  if(NOT T_WORKING_DIRECTORY)
    set(T_WORKING_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}")
  endif()
  set(labels app ${T_LABELS})
  list(JOIN MPIEXEC_NUMPROC_FLAG " " np_flag)
  set(flags ${SLUICE_MPI_OVERSUBSCRIBE_FLAG} ${MPIEXEC_PREFLAGS} ${SLUICE_MPI_EXTRA_FLAGS})
  list(JOIN flags " " flags)
  set(env
    "SLUICE_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
    "SLUICE_BINARY_DIR=${PROJECT_BINARY_DIR}"
    "SLUICE_BIN_DIR=${PROJECT_BINARY_DIR}/apps"
    "SLUICE_MPIEXEC=${MPIEXEC_EXECUTABLE}"
    "SLUICE_MPIEXEC_NP=${np_flag}"
    "SLUICE_MPIEXEC_FLAGS=${flags}"
    ${T_ENVIRONMENT})
  add_test(NAME ${T_NAME} COMMAND ${T_COMMAND} WORKING_DIRECTORY "${T_WORKING_DIRECTORY}")
  set_tests_properties(${T_NAME} PROPERTIES
    LABELS "${labels}"
    TIMEOUT ${T_TIMEOUT}
    PROCESSORS ${T_PROCESSORS}
    ENVIRONMENT "${env}")
endfunction()
