#include "templates/template_error.hpp"

namespace herald::templates {
namespace {

std::string located(const std::string& file, int line, int column, const std::string& message) {
  if (line <= 0) return file.empty() ? message : file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

std::string summary(const std::vector<LoadError>& errors) {
  std::string text =
      std::to_string(errors.size()) + " template error" + (errors.size() == 1 ? "" : "s");
  for (const LoadError& e : errors) text += "\n" + e.to_string();
  return text;
}

}  // namespace

std::string LoadError::to_string() const {
  if (line <= 0) return file + ": error: " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": error: " + message;
}

TemplateLoadError::TemplateLoadError(std::vector<LoadError> errors)
    : std::runtime_error(summary(errors)), errors_(std::move(errors)) {}

TemplateError::TemplateError(Kind kind, std::string file, int line, int column, std::string message)
    : std::runtime_error(located(file, line, column, message)),
      kind_(kind),
      file_(std::move(file)),
      line_(line),
      column_(column),
      message_(std::move(message)) {}

}  // namespace herald::templates
