#include "gateway/ingest/api_error.hpp"

namespace herald::ingest {

nlohmann::ordered_json ApiError::to_json() const {
  nlohmann::ordered_json error = nlohmann::ordered_json::object();
  error["code"] = code;
  error["message"] = message;
  if (!field.empty()) error["field"] = field;
  if (!details.empty()) {
    auto& list = error["details"] = nlohmann::ordered_json::array();
    for (const auto& detail : details) {
      nlohmann::ordered_json item = nlohmann::ordered_json::object();
      item["field"] = detail.field;
      item["message"] = detail.message;
      if (!detail.code.empty()) item["code"] = detail.code;
      list.push_back(std::move(item));
    }
  }
  nlohmann::ordered_json body = nlohmann::ordered_json::object();
  body["error"] = std::move(error);
  return body;
}

}  // namespace herald::ingest
