#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace herald::templates {

/// A problem found while loading a template file. Lines and columns count from 1;
/// columns count Unicode characters.
struct LoadError {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;

  /// `FILE:LINE:COLUMN: error: MESSAGE`, the `herald lint` format.
  std::string to_string() const;
};

/// Thrown by TemplateSet::load when any file has errors; carries all of them.
class TemplateLoadError : public std::runtime_error {
 public:
  explicit TemplateLoadError(std::vector<LoadError> errors);
  const std::vector<LoadError>& errors() const { return errors_; }

 private:
  std::vector<LoadError> errors_;
};

/// A failure while rendering: a bound was exceeded, an SMS is too long, or the
/// template or its section does not exist. Line and column are 0 when the error
/// has no place in a file (kNotFound, kNoSection).
class TemplateError : public std::runtime_error {
 public:
  enum class Kind { kNotFound, kNoSection, kIterationLimit, kOutputLimit, kSmsSegments, kRender };

  TemplateError(Kind kind, std::string file, int line, int column, std::string message);

  Kind kind() const { return kind_; }
  const std::string& file() const { return file_; }
  int line() const { return line_; }
  int column() const { return column_; }
  /// The message without the location prefix that what() carries.
  const std::string& message() const { return message_; }

 private:
  Kind kind_;
  std::string file_;
  int line_;
  int column_;
  std::string message_;
};

}  // namespace herald::templates
