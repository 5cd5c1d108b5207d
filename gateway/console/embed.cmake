# Turns the console's files into a C++ source (one byte array per file), so that the
# binary serves the console without files beside it. Run by CMake at build time:
#   cmake -DOUT=console_assets.cpp -DFILES="index.html;console.js;console.css" -P embed.cmake
set(arrays "")
set(table "")
set(i 0)
foreach(f IN LISTS FILES)
  file(READ "${f}" hex HEX)
  string(LENGTH "${hex}" size)
  math(EXPR size "${size} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  get_filename_component(name "${f}" NAME)
  string(APPEND arrays "const unsigned char k${i}[] = {${bytes}0};\n")
  string(APPEND table "      {\"${name}\", std::string_view(reinterpret_cast<const char*>(k${i}), ${size})},\n")
  math(EXPR i "${i} + 1")
endforeach()
file(WRITE "${OUT}.tmp"
"// Generated from gateway/console by embed.cmake.\n"
"#include \"gateway/console/console_routes.hpp\"\n\n"
"namespace herald::gateway::console {\nnamespace {\n${arrays}}  // namespace\n\n"
"const std::vector<Asset>& assets() {\n  static const std::vector<Asset> all{\n${table}  };\n  return all;\n}\n\n"
"}  // namespace herald::gateway::console\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
