# Writes a man page from a template (docs/man/*.in) and the --help output of
# the program it documents, so that a flag added to a flag table (the one
# source of --help, src/core/flags.c np_flags_usage) is in the man page too.
# Run at build time by CMakeLists.txt:
#
#   cmake -DPROG=<binary> -DIN=<template> -DOUT=<page> -DVERSION=<x.y.z>
#         -P cmake/manpage.cmake
#
# In the template: @OPTIONS@ (PROG --help), @RPM_OPTIONS@ (PROG rpm --help),
# @ENVIRONMENT@ (the NETPULSE_* variables of both), @VERSION@.
# Flag lines are what np_flags_usage prints:
#   "  -q, --quiet   help text (default: X) [$NETPULSE_QUIET]"
#   "      --server HOST[:PORT]   help text [$NETPULSE_SERVER]"

cmake_minimum_required(VERSION 3.25)

# A sanitizer build runs the program too; a leak report at exit is not a
# failure of the man page.
set(ENV{ASAN_OPTIONS} "detect_leaks=0")

# roff-escapes text of one line: backslashes, hyphens (so that --flags
# render as ASCII and can be copied), a leading control character.
function(np_roff out text)
  string(REPLACE "\\" "\\e" text "${text}")
  string(REPLACE "-" "\\-" text "${text}")
  string(REGEX REPLACE "^([.'])" "\\\\&\\1" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# np_flags_roff(<help args> OPTS_VAR ENV_VAR): runs PROG <help args>, turns
# every flag line into a .TP paragraph and appends "NAME<TAB>flag" to the
# environment list.
function(np_flags_roff args opts_var env_var)
  execute_process(COMMAND ${PROG} ${args} OUTPUT_VARIABLE help RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${PROG} ${args} exited ${rc}")
  endif()
  # Semicolons and brackets would confuse CMake's lists: stand-ins.
  string(REPLACE ";" "@SEMI@" help "${help}")
  string(REPLACE "[" "@LB@" help "${help}")
  string(REPLACE "]" "@RB@" help "${help}")
  string(REPLACE "\n" ";" lines "${help}")
  set(opts "")
  set(envs "${${env_var}}")
  set(n 0)
  foreach(line IN LISTS lines)
    string(REPLACE "@LB@" "[" line "${line}")
    string(REPLACE "@RB@" "]" line "${line}")
    string(REPLACE "@SEMI@" ";" line "${line}")
    if(NOT line MATCHES "^  (-([A-Za-z0-9]), |    )--([a-z0-9-]+)( ([^ ]+))? +(.*)$")
      continue()
    endif()
    set(short "${CMAKE_MATCH_2}")
    set(name "${CMAKE_MATCH_3}")
    set(metavar "${CMAKE_MATCH_5}")
    set(text "${CMAKE_MATCH_6}")
    set(env "")
    if(text MATCHES "^(.*) \\[\\$(NETPULSE_[A-Z0-9_]+)\\]$")
      set(text "${CMAKE_MATCH_1}")
      set(env "${CMAKE_MATCH_2}")
    endif()
    np_roff(text "${text}")
    np_roff(ename "${name}")
    set(head "\\fB\\-\\-${ename}\\fR")
    if(short)
      set(head "\\fB\\-${short}\\fR, ${head}")
    endif()
    if(metavar)
      np_roff(emeta "${metavar}")
      set(head "${head} \\fI${emeta}\\fR")
    endif()
    string(APPEND opts ".TP\n${head}\n${text}\n")
    if(env)
      string(APPEND opts ".br\nEnvironment: \\fB\\%${env}\\fR\n")
      list(APPEND envs "${env}\t${name}")
    endif()
    math(EXPR n "${n} + 1")
  endforeach()
  if(n EQUAL 0)
    message(FATAL_ERROR "no flag lines in the output of ${PROG} ${args}")
  endif()
  set(${opts_var} "${opts}" PARENT_SCOPE)
  set(${env_var} "${envs}" PARENT_SCOPE)
endfunction()

file(READ ${IN} page)
set(envs "")
np_flags_roff("--help" OPTIONS envs)
if(page MATCHES "@RPM_OPTIONS@")
  np_flags_roff("rpm;--help" RPM_OPTIONS envs)
endif()

# ENVIRONMENT: each variable once, in the order --help names them.
set(ENVIRONMENT "")
set(seen "")
foreach(e IN LISTS envs)
  string(REPLACE "\t" ";" pair "${e}")
  list(GET pair 0 var)
  list(GET pair 1 flag)
  if(var IN_LIST seen)
    continue()
  endif()
  list(APPEND seen "${var}")
  np_roff(eflag "${flag}")
  string(APPEND ENVIRONMENT ".TP\n\\fB\\%${var}\\fR\nas \\fB\\-\\-${eflag}\\fR\n")
endforeach()

string(CONFIGURE "${page}" page @ONLY)
file(WRITE ${OUT}.tmp "${page}")
file(RENAME ${OUT}.tmp ${OUT})
