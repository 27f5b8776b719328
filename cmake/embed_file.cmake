# Script mode: turns INPUT into a C++ byte array (no raw-string delimiter can collide with it).
file(READ ${INPUT} hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUTPUT}
  "// Generated from ${INPUT}; do not edit.\n"
  "#include <string_view>\n"
  "namespace ${NAMESPACE} {\n"
  "namespace {\n"
  "constexpr char kBytes[] = {${bytes} 0};\n"
  "}  // namespace\n"
  "std::string_view ${SYMBOL}() { return std::string_view(kBytes, ${size}); }\n"
  "}  // namespace ${NAMESPACE}\n")
