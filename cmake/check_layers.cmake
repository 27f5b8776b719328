# Script mode: fails when a library reaches past its layer.
#   cmake -DSOURCE_DIR=<tree> -DLINKS=<file> -DPUBLIC=<file> -P cmake/check_layers.cmake
# LINKS holds one line per library, "name: item;item;..." (its link libraries, as CMake has
# them); PUBLIC one line per library, "name: header;header;...". The build writes both from the
# targets themselves (cmake/layers.cmake) and runs this script whenever a source changes, so a
# forbidden include or link fails the build. The rules are here and nowhere else:
#  - a library links and includes only the libraries below it in kAllowed;
#  - policy, the pure engine, uses no I/O library (sockets, TLS, HTTP, metrics);
#  - a library includes another's public headers only (its PUBLIC_HEADER list); a library's
#    own tests (test/<name>/) may include its private ones, and main/ may include any public one.
cmake_minimum_required(VERSION 3.25)

set(kAllowed_common "")
set(kAllowed_certs "")
set(kAllowed_policy "common")
set(kAllowed_https "common")
set(kAllowed_kube "https;common")
set(kAllowed_registry "https;policy;common")
set(kAllowed_check "policy;common")
set(kAllowed_server "policy;registry;common;certs")
set(kAllowed_sweeper "policy;registry;kube;common")
set(kAllowed_webhookcerts "certs;kube;common")
set(kAllowed_main "common;certs;policy;https;kube;registry;check;server;sweeper;webhookcerts")
set(kLibraries common certs policy https kube registry check server sweeper webhookcerts main)
# What "I/O library" means for the pure engine, as link items and as include prefixes.
set(kPolicyForbiddenLinks "Boost|OpenSSL|prometheus|asio|CURL")
set(kPolicyForbiddenIncludes "boost/|openssl/|prometheus/|sys/socket.h|netinet/|arpa/|fstream")

set(errors "")

file(STRINGS "${LINKS}" link_lines)
foreach(line IN LISTS link_lines)
  string(REGEX MATCH "^([a-z_]+): ?(.*)$" _ "${line}")
  set(lib "${CMAKE_MATCH_1}")
  set(items "${CMAKE_MATCH_2}")
  foreach(item IN LISTS items)
    if(item MATCHES "^stratum_guard::([a-z_]+)$")
      set(dep "${CMAKE_MATCH_1}")
      if(dep STREQUAL "warnings" OR dep STREQUAL "asio")
        # build settings, not layers
      elseif(NOT dep IN_LIST kAllowed_${lib})
        list(JOIN kAllowed_${lib} ", " allowed)
        list(APPEND errors "${lib} links stratum_guard::${dep}: ${lib} may use only [${allowed}]")
      endif()
    endif()
    if(lib STREQUAL "policy" AND item MATCHES "${kPolicyForbiddenLinks}")
      list(APPEND errors "policy links ${item}: the policy engine uses no I/O library")
    endif()
  endforeach()
endforeach()

file(STRINGS "${PUBLIC}" public_lines)
foreach(line IN LISTS public_lines)
  string(REGEX MATCH "^([a-z_]+): ?(.*)$" _ "${line}")
  set(public_${CMAKE_MATCH_1} "${CMAKE_MATCH_2}")
endforeach()

# Checks every #include of the files under <SOURCE_DIR>/<folder> as written by library `lib`
# (empty for a test folder of `own`, which may include `own`'s private headers).
function(check_folder folder lib own)
  file(GLOB_RECURSE files "${SOURCE_DIR}/${folder}/*.h" "${SOURCE_DIR}/${folder}/*.cpp")
  foreach(file IN LISTS files)
    file(RELATIVE_PATH rel "${SOURCE_DIR}" "${file}")
    file(STRINGS "${file}" includes REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
    foreach(inc IN LISTS includes)
      string(REGEX MATCH "[<\"]([^>\"]+)[>\"]" _ "${inc}")
      set(path "${CMAKE_MATCH_1}")
      if(lib STREQUAL "policy" AND path MATCHES "^(${kPolicyForbiddenIncludes})")
        list(APPEND errors "${rel} includes <${path}>: the policy engine uses no I/O library")
      endif()
      if(NOT path MATCHES "^([a-z_]+)/([a-z_]+\\.h)$")
        continue()
      endif()
      set(dep "${CMAKE_MATCH_1}")
      set(header "${CMAKE_MATCH_2}")
      if(NOT dep IN_LIST kLibraries OR dep STREQUAL lib OR dep STREQUAL own)
        continue()
      endif()
      if(lib AND NOT dep IN_LIST kAllowed_${lib})
        list(JOIN kAllowed_${lib} ", " allowed)
        list(APPEND errors "${rel} includes \"${path}\": ${lib} may use only [${allowed}]")
      elseif(NOT header IN_LIST public_${dep})
        list(JOIN public_${dep} ", " headers)
        list(APPEND errors "${rel} includes \"${path}\", a private header of ${dep} (public: ${headers})")
      endif()
    endforeach()
  endforeach()
  set(errors "${errors}" PARENT_SCOPE)
endfunction()

foreach(lib IN LISTS kLibraries)
  check_folder(${lib} ${lib} "")
  if(NOT lib STREQUAL "main")
    check_folder(test/${lib} "" ${lib})
  endif()
endforeach()

if(errors)
  list(JOIN errors "\n  " text)
  message(FATAL_ERROR "Layering violations (see docs/ARCHITECTURE.md):\n  ${text}")
endif()
