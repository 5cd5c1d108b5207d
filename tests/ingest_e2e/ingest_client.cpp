#include "tests/ingest_e2e/ingest_client.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>
#include <ctime>
#include <regex>
#include <stdexcept>

#include <catch2/catch.hpp>

namespace herald::test::ingest {

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &length);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string hex(std::string_view bytes) {
  static const char* const kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

Headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

Headers basic(const std::string& user, const std::string& password) {
  return {{"Authorization", "Basic " + base64(user + ":" + password)}};
}

Json json_of(const HttpResponse& response) {
  try {
    return Json::parse(response.body);
  } catch (const std::exception&) {
    FAIL("status " << response.status << ", body is not JSON: " << response.body.substr(0, 2000));
  }
  return {};
}

void check_error(const HttpResponse& response, int status, const std::string& code,
                 const std::string& field) {
  INFO("status " << response.status << ": " << response.body.substr(0, 2000));
  CHECK(response.status == status);
  CHECK(response.header("content-type").rfind("application/json", 0) == 0);
  const Json j = json_of(response);
  REQUIRE(j.is_object());
  REQUIRE(j.contains("error"));
  CHECK(j["error"]["code"] == code);
  REQUIRE(j["error"]["message"].is_string());
  CHECK_FALSE(j["error"]["message"].get<std::string>().empty());
  if (!field.empty()) CHECK(j["error"].value("field", "") == field);
}

void check_client_error(const HttpResponse& response) {
  INFO("status " << response.status << ": " << response.body.substr(0, 2000));
  CHECK(response.status >= 400);
  CHECK(response.status < 500);
  const Json j = json_of(response);
  REQUIRE(j.is_object());
  REQUIRE(j.contains("error"));
  CHECK(j["error"]["code"].is_string());
  CHECK(j["error"]["message"].is_string());
}

void check_success(const HttpResponse& response, int accepted, int duplicates) {
  INFO("status " << response.status << ": " << response.body.substr(0, 2000));
  REQUIRE(response.status == 200);
  const Json j = json_of(response);
  CHECK(j["success"] == true);
  CHECK(j["accepted"] == accepted);
  CHECK(j["duplicates"] == duplicates);
}

HttpResponse post_ingest(const HeraldProcess& herald, const std::string& endpoint,
                         const std::string& body, const Headers& headers) {
  return http(herald.port(), "POST", "/v1/" + endpoint, body, headers);
}

HttpResponse post_ingest(const HeraldProcess& herald, const std::string& endpoint, const char* body,
                         const Headers& headers) {
  return post_ingest(herald, endpoint, std::string(body), headers);
}

HttpResponse post_ingest(const HeraldProcess& herald, const std::string& endpoint, const Json& body,
                         const Headers& headers) {
  return post_ingest(herald, endpoint, body.dump(), headers);
}

Json track_body(const std::string& user_id, const std::string& event, Json properties) {
  return {{"userId", user_id}, {"event", event}, {"properties", std::move(properties)}};
}

Json identify_body(const std::string& user_id, Json traits) {
  return {{"userId", user_id}, {"traits", std::move(traits)}};
}

Json order_body(const std::string& user_id, double total, const std::string& message_id,
                const std::string& timestamp) {
  Json body = track_body(user_id, "order.completed", {{"total", total}});
  if (!message_id.empty()) body["messageId"] = message_id;
  if (!timestamp.empty()) body["timestamp"] = timestamp;
  return body;
}

std::optional<Json> get_customer(const HeraldProcess& herald, const std::string& id) {
  const auto r = http(herald.port(), "GET", "/v1/customers/" + id, {}, bearer(kAdminKey));
  if (r.status == 404) return std::nullopt;
  INFO("GET /v1/customers/" << id << " -> " << r.status << ": " << r.body.substr(0, 2000));
  REQUIRE(r.status == 200);
  return json_of(r);
}

std::optional<Json> wait_customer(const HeraldProcess& herald, const std::string& id,
                                  std::chrono::milliseconds timeout) {
  return wait_customer(herald, id, [](const Json&) { return true; }, timeout);
}

void quiesce(const HeraldProcess& herald) {
  const std::string round = unique("sentinel");
  Json batch = Json::array();
  for (int i = 0; i < 256; ++i)
    batch.push_back({{"type", "identify"}, {"userId", round + "-" + std::to_string(i)},
                     {"traits", {{"sentinel", true}}}});
  const std::string body = Json{{"batch", batch}}.dump();
  HttpResponse r;
  // Under overload (429) the sentinels wait their turn like any sender would.
  eventually(
      [&] {
        r = post_ingest(herald, "batch", body);
        return r.status != 429;
      },
      std::chrono::seconds(30));
  INFO(r.body);
  REQUIRE(r.status == 200);
  HttpConnection c(herald.port());
  for (int i = 0; i < 256; ++i) {
    const std::string path = "/v1/customers/" + round + "-" + std::to_string(i);
    const bool seen = eventually(
        [&] { return c.request("GET", path, {}, bearer(kAdminKey)).status == 200; },
        std::chrono::seconds(30));
    INFO(path);
    REQUIRE(seen);
  }
}

bool is_rfc3339_utc(const std::string& text) {
  static const std::regex kPattern(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$)");
  return std::regex_match(text, kPattern);
}

std::int64_t epoch_ms(const std::string& text) {
  if (!is_rfc3339_utc(text)) throw std::invalid_argument("not RFC 3339 UTC: " + text);
  std::tm tm{};
  tm.tm_year = std::stoi(text.substr(0, 4)) - 1900;
  tm.tm_mon = std::stoi(text.substr(5, 2)) - 1;
  tm.tm_mday = std::stoi(text.substr(8, 2));
  tm.tm_hour = std::stoi(text.substr(11, 2));
  tm.tm_min = std::stoi(text.substr(14, 2));
  tm.tm_sec = std::stoi(text.substr(17, 2));
  std::int64_t ms = static_cast<std::int64_t>(timegm(&tm)) * 1000;
  if (text[19] == '.') {
    std::string fraction = text.substr(20, text.size() - 21);
    fraction = (fraction + "000").substr(0, 3);
    ms += std::stoi(fraction);
  }
  return ms;
}

std::string rfc3339_ms(std::int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

std::string rfc3339(std::chrono::system_clock::time_point at) {
  return rfc3339_ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count());
}

std::string unique(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "-" + std::to_string(++counter);
}

}  // namespace herald::test::ingest
