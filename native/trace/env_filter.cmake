# Turns the environment-relevance filter's one home, lib/env/relevant-variables.json (which
# lib/env/capture.ts reads too), into a C++ header for the trace library's process line, so
# the tracer and the TypeScript snapshot keep exactly the same variables and redact the same
# names. Run as `cmake -DIN=<json> -DOUT=<header> -P env_filter.cmake` (the build does, and so
# does test/contract/env-filter.test.ts). Needs CMake 3.19 (string(JSON)).
if(CMAKE_VERSION VERSION_LESS 3.19)
  message(FATAL_ERROR "env_filter.cmake needs CMake 3.19 or newer (string(JSON))")
endif()
file(READ ${IN} json)
set(body "// generated from lib/env/relevant-variables.json by native/trace/env_filter.cmake; do not edit\n#pragma once\n")
foreach(key prefixes names secretSubstrings secretSegments)
  string(JSON count LENGTH "${json}" ${key})
  if(count EQUAL 0)
    message(FATAL_ERROR "${IN}: ${key} is empty")
  endif()
  math(EXPR last "${count} - 1")
  set(items "")
  foreach(i RANGE ${last})
    string(JSON item GET "${json}" ${key} ${i})
    # Variable names and their parts only: nothing that would need escaping in C++.
    if(NOT item MATCHES "^[A-Za-z0-9_.-]+$")
      message(FATAL_ERROR "${IN}: ${key}[${i}] '${item}' is not a variable name or part of one")
    endif()
    string(APPEND items "\"${item}\", ")
  endforeach()
  string(APPEND body "inline constexpr const char* kEnvFilter_${key}[] = {${items}};\n")
endforeach()
file(WRITE ${OUT} "${body}")
