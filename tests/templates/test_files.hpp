#pragma once

// A private temporary folder of template files for one test.

#include <unistd.h>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace herald::templates::test {

class TempTemplates {
 public:
  TempTemplates() {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("herald-templates-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(dir_);
  }
  ~TempTemplates() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TempTemplates(const TempTemplates&) = delete;
  TempTemplates& operator=(const TempTemplates&) = delete;

  std::filesystem::path write(const std::string& name, std::string_view text) const {
    auto path = dir_ / name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
};

/// The 1-based column of the first `needle` on line `line` (1-based) of `text`,
/// counted in characters.
inline int column_of(std::string_view text, int line, std::string_view needle) {
  std::size_t start = 0;
  for (int l = 1; l < line; ++l) start = text.find('\n', start) + 1;
  std::string_view row = text.substr(start, text.find('\n', start) - start);
  std::size_t at = row.find(needle);
  int column = 1;
  for (std::size_t i = 0; i < at; ++i) {
    if ((static_cast<unsigned char>(row[i]) & 0xC0) != 0x80) ++column;
  }
  return column;
}

}  // namespace herald::templates::test
