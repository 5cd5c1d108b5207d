#pragma once

#include <exception>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace herald::ingest {

/// One problem among several (a bad item of a batch, a bad trait).
struct ErrorDetail {
  std::string field;    // JSON path into the request, e.g. "batch[3].event"
  std::string message;  // for people
  std::string code;     // the code this problem alone would have had ("invalid_trait", ...)
};

/// A domain failure with the HTTP status and the contract's error code. The HTTP layer catches it
/// in one place and answers `to_json()` with `status`.
class ApiError : public std::exception {
 public:
  ApiError(int status, std::string code, std::string message, std::string field = {},
           std::vector<ErrorDetail> details = {})
      : status(status),
        code(std::move(code)),
        message(std::move(message)),
        field(std::move(field)),
        details(std::move(details)) {}

  const char* what() const noexcept override { return message.c_str(); }

  /// `{"error": {"code", "message", "field"?, "details"?: [{"field", "message", "code"}]}}`
  nlohmann::ordered_json to_json() const;

  int status;
  std::string code;
  std::string message;
  std::string field;                 // empty: no single field at fault
  std::vector<ErrorDetail> details;  // empty: not a multi-problem error
};

}  // namespace herald::ingest
