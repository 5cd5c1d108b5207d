#include "gateway/http_types.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace herald::gateway {
namespace http = boost::beast::http;
using BeastRequest = http::request<http::string_body>;

std::string_view Request::header(std::string_view name) const {
  if (!native) return {};
  const auto& req = *static_cast<const BeastRequest*>(native);
  auto it = req.find(boost::beast::string_view(name.data(), name.size()));
  if (it == req.end()) return {};
  auto value = it->value();
  return {value.data(), value.size()};
}

std::vector<std::pair<std::string, std::string>> Request::headers() const {
  std::vector<std::pair<std::string, std::string>> out;
  if (!native) return out;
  for (const auto& field : *static_cast<const BeastRequest*>(native)) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.emplace_back(std::move(name), std::string(field.value()));
  }
  return out;
}

std::optional<std::string> Request::query(std::string_view name) const {
  auto q = target.find('?');
  if (q == std::string::npos) return std::nullopt;
  std::string_view rest(target);
  rest.remove_prefix(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto part = rest.substr(0, amp);
    auto eq = part.find('=');
    auto key = url_decode(part.substr(0, eq), true);
    if (key && *key == name) {
      if (eq == std::string_view::npos) return std::string();
      return url_decode(part.substr(eq + 1), true);
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

Response Response::json(int status, const Json& body) {
  Response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

Response Response::text(int status, std::string body, std::string content_type) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

ApiError::ApiError(int status, std::string code, std::string message, std::string field,
                   std::vector<ErrorDetail> details)
    : std::runtime_error(std::move(message)),
      status_(status),
      code_(std::move(code)),
      field_(std::move(field)),
      details_(std::move(details)) {}

Response ApiError::to_response() const {
  auto r = error_response(status_, code_, what(), field_, details_);
  r.headers = headers;
  return r;
}

Response error_response(int status, std::string_view code, std::string_view message,
                        std::string_view field, const std::vector<ErrorDetail>& details) {
  Json error = {{"code", code}, {"message", message}};
  if (!field.empty()) error["field"] = field;
  if (!details.empty()) {
    Json list = Json::array();
    for (const auto& d : details) {
      Json item = {{"field", d.field}, {"message", d.message}};
      list.push_back(std::move(item));
    }
    error["details"] = std::move(list);
  }
  return Response::json(status, Json{{"error", std::move(error)}});
}

std::optional<std::string> url_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;
      };
      int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace herald::gateway
