#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "templates/limits.hpp"
#include "templates/liquid/ast.hpp"
#include "templates/liquid/render_state.hpp"
#include "templates/template_error.hpp"

namespace herald::templates {

/// One compiled Liquid source (a YAML scalar). Immutable and cheap to copy;
/// render() may be called from many threads at once.
class LiquidTemplate {
 public:
  struct Options {
    bool html_escape = false;  // auto-escape every output not ending in `raw`
    std::string file;          // for error messages
    /// Maps a byte offset of the source to its place in the file; when empty,
    /// the source itself is the file (line 1 column 1 at offset 0).
    std::function<SourcePos(std::size_t)> position;
  };

  /// Compiles `source`; on failure appends the errors and returns nullopt.
  static std::optional<LiquidTemplate> compile(std::string_view source, const Options& options,
                                               std::vector<LoadError>& errors);

  /// Appends the rendering to `out`. Throws TemplateError on exceeded bounds.
  void render(RenderState& state, std::string& out) const;
  std::string render(const Json& context, const Limits& limits) const;

  const std::string& file() const { return program_->file; }

  /// A context path the template reads, such as `customer.first_name` (the keys after
  /// the root, up to the first index), and where.
  struct VariableUse {
    std::string path;
    SourcePos pos;
  };
  /// Every context path read, leaving out the template's own variables (assign, capture,
  /// for); for `herald lint --strict`.
  std::vector<VariableUse> variables() const;

 private:
  explicit LiquidTemplate(std::shared_ptr<const Program> program) : program_(std::move(program)) {}
  std::shared_ptr<const Program> program_;
};

/// Line and column (from 1, in characters) of a byte offset in `text`.
SourcePos position_in(std::string_view text, std::size_t offset);

}  // namespace herald::templates
