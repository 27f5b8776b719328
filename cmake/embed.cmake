# stratum_guard_embed(OUT_VAR INPUT SYMBOL NAMESPACE): generates a .cpp that defines
#   std::string_view NAMESPACE::SYMBOL()
# holding INPUT's bytes, so a file (the default policy) ships inside the binary and no
# runtime path can go missing. The file is regenerated whenever INPUT changes.
function(stratum_guard_embed out_var input symbol namespace)
  get_filename_component(name ${input} NAME_WE)
  set(output ${CMAKE_CURRENT_BINARY_DIR}/embedded_${name}.cpp)
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -DINPUT=${input} -DOUTPUT=${output} -DSYMBOL=${symbol}
            -DNAMESPACE=${namespace} -P ${PROJECT_SOURCE_DIR}/cmake/embed_file.cmake
    DEPENDS ${input} ${PROJECT_SOURCE_DIR}/cmake/embed_file.cmake
    COMMENT "Embedding ${input}")
  set(${out_var} ${output} PARENT_SCOPE)
endfunction()
