#pragma once
// The HTTP request and response as handlers see them, independent of Beast, and the
// typed API error that the server maps to the contract's JSON error shape in one place.

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace herald::gateway {

using Json = nlohmann::ordered_json;

/// The authenticated caller of a request.
enum class Principal { kNone, kWriteKey, kAdmin, kAgent };

struct Request {
  std::string method;
  std::string target;  // path and query as sent
  std::string path;    // decoded path, without the query
  std::string body;
  std::string request_id;
  std::map<std::string, std::string> params;  // path parameters of the route
  Principal principal = Principal::kNone;
  std::string agent;  // the agent's name when principal is kAgent
  std::string remote;

  /// The value of a header (case-insensitive name), or empty.
  std::string_view header(std::string_view name) const;
  /// Every header, names lower-cased.
  std::vector<std::pair<std::string, std::string>> headers() const;
  /// A decoded query parameter.
  std::optional<std::string> query(std::string_view name) const;

  const void* native = nullptr;  // the Beast request behind it (set by the server)
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;

  static Response json(int status, const Json& body);
  static Response text(int status, std::string body, std::string content_type = "text/plain");
};

struct ErrorDetail {
  std::string field;
  std::string message;
};

/// A domain failure with the contract's status, code, message, field and details.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string code, std::string message, std::string field = {},
           std::vector<ErrorDetail> details = {});
  int status() const { return status_; }
  const std::string& code() const { return code_; }
  const std::string& field() const { return field_; }
  const std::vector<ErrorDetail>& details() const { return details_; }
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. Retry-After

  Response to_response() const;

 private:
  int status_;
  std::string code_;
  std::string field_;
  std::vector<ErrorDetail> details_;
};

/// `{"error": {"code", "message", "field"?, "details"?}}`
Response error_response(int status, std::string_view code, std::string_view message,
                        std::string_view field = {}, const std::vector<ErrorDetail>& details = {});

/// Percent-decoding of a URL component; nullopt on malformed escapes.
std::optional<std::string> url_decode(std::string_view text, bool plus_is_space);

}  // namespace herald::gateway
