# Makes the build check the layering rules of cmake/check_layers.cmake on every change: the
# link lines and public headers are read from the targets themselves, so they cannot drift
# from a copy. Call once, after every library is defined.
function(stratum_guard_check_layers)
  set(links "")
  set(public "")
  set(sources "")
  foreach(lib common certs policy https kube registry check server sweeper webhookcerts main)
    if(lib STREQUAL "main")
      set(target stratum-guard)
    else()
      set(target stratum_guard_${lib})
    endif()
    get_target_property(items ${target} LINK_LIBRARIES)
    string(APPEND links "${lib}: ${items}\n")
    get_target_property(headers ${target} PUBLIC_HEADER)
    if(NOT headers)
      set(headers "")
    endif()
    string(APPEND public "${lib}: ${headers}\n")
    file(GLOB_RECURSE files CONFIGURE_DEPENDS
         ${PROJECT_SOURCE_DIR}/${lib}/*.h ${PROJECT_SOURCE_DIR}/${lib}/*.cpp
         ${PROJECT_SOURCE_DIR}/test/${lib}/*.h ${PROJECT_SOURCE_DIR}/test/${lib}/*.cpp)
    list(APPEND sources ${files})
  endforeach()
  file(WRITE ${CMAKE_BINARY_DIR}/layers/links.txt "${links}")
  file(WRITE ${CMAKE_BINARY_DIR}/layers/public.txt "${public}")
  set(args -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DLINKS=${CMAKE_BINARY_DIR}/layers/links.txt
           -DPUBLIC=${CMAKE_BINARY_DIR}/layers/public.txt)
  add_custom_command(
    OUTPUT ${CMAKE_BINARY_DIR}/layers/checked.stamp
    COMMAND ${CMAKE_COMMAND} ${args} -P ${PROJECT_SOURCE_DIR}/cmake/check_layers.cmake
    COMMAND ${CMAKE_COMMAND} -E touch ${CMAKE_BINARY_DIR}/layers/checked.stamp
    DEPENDS ${sources} ${PROJECT_SOURCE_DIR}/cmake/check_layers.cmake
            ${CMAKE_BINARY_DIR}/layers/links.txt ${CMAKE_BINARY_DIR}/layers/public.txt
    COMMENT "Checking the layers (cmake/check_layers.cmake)")
  add_custom_target(stratum_guard_layers ALL DEPENDS ${CMAKE_BINARY_DIR}/layers/checked.stamp)
  # The binary is what `make run` builds: it waits for the check.
  add_dependencies(stratum-guard stratum_guard_layers)
endfunction()
