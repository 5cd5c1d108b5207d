#pragma once

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace herald::ingest {

/// An expression of a source's mapping (`when`, `event_from`, `user_id`, `properties`, `traits`),
/// evaluated over a request: `header` is an object of lower-cased header names to strings, `body`
/// the parsed JSON body. A missing path evaluates to null. Implementations are immutable and
/// eval() is safe to call from several threads at once.
class MappingExpr {
 public:
  virtual ~MappingExpr() = default;
  virtual nlohmann::ordered_json eval(const nlohmann::ordered_json& header,
                                      const nlohmann::ordered_json& body) const = 0;
};

/// A syntax error in an expression; `column` counts from 1 within the expression's text.
class MappingExprError : public std::runtime_error {
 public:
  MappingExprError(const std::string& message, int column)
      : std::runtime_error(message), column_(column) {}
  int column() const { return column_; }

 private:
  int column_;
};

/// Compiles expression text, throwing MappingExprError (or any std::exception) when it is not
/// valid. The gateway passes herald_expr's compiler here; builtin_mapping_expr_factory() is the
/// small stand-alone one.
using MappingExprFactory = std::function<std::unique_ptr<const MappingExpr>(std::string_view text)>;

}  // namespace herald::ingest
