// One-click unsubscribe (RFC 8058) end to end: the List-Unsubscribe headers of a marketing
// email as the provider (SendGrid at the sandbox) receives them, and GET/POST /u/{token}.
#include <regex>

#include <catch2/catch.hpp>

#include "tests/hooks_e2e/hooks_env.hpp"
#include "tests/support/process.hpp"

using namespace hooks_e2e;
using herald::test::eventually;
using herald::test::http;

namespace {

/// The JSON body of the last SendGrid send.
Json last_email(const HookEnv& env) {
  auto requests = env.sandbox.requests("sendgrid");
  REQUIRE_FALSE(requests.empty());
  return requests.back()["json"];
}

std::string header_of(const Json& email, const std::string& name) {
  if (!email.contains("headers") || !email["headers"].is_object()) return "";
  for (auto& [k, v] : email["headers"].items())
    if (k.size() == name.size() &&
        std::equal(k.begin(), k.end(), name.begin(),
                   [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
      return v.get<std::string>();
  return "";
}

std::string b64url(const std::string& bytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 2 < bytes.size(); i += 3) {
    unsigned v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    for (int s = 18; s >= 0; s -= 6) out += alphabet[(v >> s) & 63];
  }
  if (bytes.size() - i == 1) {
    unsigned v = at(i) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    unsigned v = (at(i) << 16) | (at(i + 1) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
  }
  return out;
}

/// What a mailbox provider sends: a form POST without credentials or cookies.
herald::test::HttpResponse one_click(const HookEnv& env, const std::string& token) {
  return http(env.port(), "POST", "/u/" + token, "List-Unsubscribe=One-Click",
              {{"Content-Type", "application/x-www-form-urlencoded"}});
}

}  // namespace

TEST_CASE("a marketing email carries a one-click unsubscribe that opts the customer out") {
  HookEnv env;
  env.identify("e-1", {{"email", "ann@example.com"}, {"first_name", "Ann"}});
  env.identify("e-2", {{"email", "bob@example.com"}});

  // Marketing: List-Unsubscribe with Herald's public URL, and the one-click header.
  env.wait_sent(env.send("e-1", "email"));
  auto marketing = last_email(env);
  INFO(marketing.dump());
  CHECK(marketing["personalizations"][0]["to"][0]["email"] == "ann@example.com");
  auto list = header_of(marketing, "List-Unsubscribe");
  std::smatch match;
  const std::regex pattern("<http://127\\.0\\.0\\.1:" + std::to_string(env.port()) +
                           "/u/([A-Za-z0-9_.\\-]+)>");
  REQUIRE(std::regex_search(list, match, pattern));
  const std::string token = match[1];
  CHECK(header_of(marketing, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click");

  // Transactional: neither header.
  env.wait_sent(env.send("e-1", "email", /*transactional=*/true));
  auto receipt = last_email(env);
  CHECK(header_of(receipt, "List-Unsubscribe").empty());
  CHECK(header_of(receipt, "List-Unsubscribe-Post").empty());

  // GET shows a page (a person, or a link scanner) and changes nothing.
  auto page = http(env.port(), "GET", "/u/" + token);
  CHECK(page.status == 200);
  CHECK(page.header("content-type").rfind("text/html", 0) == 0);
  CHECK_THAT(page.body, Catch::Contains("<form") && Catch::Contains("post"));
  CHECK(env.consent("e-1", "email") == "");
  CHECK(env.export_of("e-1")["consent_log"].empty());

  // Forged and altered tokens: 404, and nobody is unsubscribed.
  const auto dot = token.find('.');
  REQUIRE(dot != std::string::npos);
  const std::string mac = token.substr(dot + 1);
  std::vector<std::string> forged{
      b64url("email\ne-2") + "." + mac,  // somebody else, with e-1's signature
      b64url("sms\ne-1") + "." + mac,    // another channel
      token.substr(0, dot),              // no signature
      token + "A",
      token + "=",
      "." + mac,
      "nothing-here",
      b64url("email\ne-2") + "." + b64url(std::string(16, '\0'))};
  // Every other last character of the signature and of the payload: an altered token,
  // even where the change only touches base64's unused trailing bits.
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (std::size_t at : {token.size() - 1, dot - 1})
    for (char c : alphabet)
      if (c != token[at]) {
        std::string altered = token;
        altered[at] = c;
        forged.push_back(altered);
      }
  for (const auto& f : forged) {
    INFO(f);
    auto r = one_click(env, f);
    CHECK(is_api_error(r, 404, "not_found"));
    CHECK(http(env.port(), "GET", "/u/" + f).status == 404);
  }
  CHECK(env.consent("e-1", "email") == "");
  CHECK(env.consent("e-2", "email") == "");
  CHECK(env.consent("e-1", "sms") == "");

  // The mailbox provider's POST: no credentials, a form body. 2xx and opted out.
  auto r = one_click(env, token);
  CHECK(r.status >= 200);
  CHECK(r.status < 300);
  REQUIRE(eventually([&] { return env.consent("e-1", "email") == "opted_out"; }));
  auto log = env.export_of("e-1")["consent_log"];
  REQUIRE(log.size() == 1);
  CHECK(log[0]["channel"] == "email");
  CHECK(log[0]["status"] == "opted_out");
  CHECK(log[0]["source"] == "one_click_unsubscribe");
  CHECK(env.consent("e-2", "email") == "");

  // Sent again (mailbox providers retry): still 2xx.
  auto again = one_click(env, token);
  CHECK(again.status >= 200);
  CHECK(again.status < 300);
  CHECK(env.consent("e-1", "email") == "opted_out");

  // The opt-out holds: the next marketing email is not sent.
  auto next = env.send("e-1", "email");
  CHECK(eventually([&] { return env.message(next)["status"] == "suppressed"; }));
}

TEST_CASE("one-click unsubscribe after erasure does not bring the customer back") {
  HookEnv env;
  env.identify("e-3", {{"email", "carol@example.com"}});
  env.wait_sent(env.send("e-3", "email"));
  auto list = header_of(last_email(env), "List-Unsubscribe");
  auto at = list.find("/u/");
  REQUIRE(at != std::string::npos);
  auto token = list.substr(at + 3, list.find('>', at) - at - 3);

  REQUIRE(env.admin("DELETE", "/v1/customers/e-3").status == 204);
  REQUIRE(env.customer("e-3").is_null());
  auto r = one_click(env, token);
  INFO(r.status << " " << r.body);
  // Nothing left to unsubscribe: acknowledged (or not found), never a new profile.
  CHECK(((r.status >= 200 && r.status < 300) || r.status == 404));
  CHECK(env.customer("e-3").is_null());
  CHECK(env.export_of("e-3").is_null());
}

TEST_CASE("templates see unsubscribe_url: the customer's link for marketing, empty otherwise") {
  HookEnv env;
  env.content.write("templates/news.yaml", R"(email:
  subject: "News"
  text: "Hello. Unsubscribe: [{{ unsubscribe_url }}]"
)");
  env.herald->stop();
  env.herald->start();
  REQUIRE(env.herald->wait_ready(200));
  env.identify("e-7", {{"email", "eve@example.com"}});
  auto send = [&](bool transactional) {
    Json body{{"customer_id", "e-7"}, {"template", "news"}, {"channels", {"email"}},
              {"transactional", transactional}};
    auto r = env.admin("POST", "/v1/messages", body.dump());
    REQUIRE(r.status == 202);
    env.wait_sent(Json::parse(r.body)["id"].get<std::string>());
    return last_email(env);
  };
  // Transactional mail has no link.
  auto receipt = send(true);
  CHECK(receipt["content"][0]["value"] == "Hello. Unsubscribe: []");
  auto marketing = send(false);
  const std::string text = marketing["content"][0]["value"];
  const std::string list = header_of(marketing, "List-Unsubscribe");
  const std::string prefix = "Hello. Unsubscribe: [http://127.0.0.1:" + std::to_string(env.port()) + "/u/";
  REQUIRE(text.rfind(prefix, 0) == 0);
  // The same link as the List-Unsubscribe header's, and it works.
  const std::string url = text.substr(text.find('[') + 1, text.size() - text.find('[') - 2);
  CHECK(list == "<" + url + ">");
  auto done = http(env.port(), "POST", url.substr(url.find("/u/")), "List-Unsubscribe=One-Click",
                   {{"Content-Type", "application/x-www-form-urlencoded"}});
  CHECK(done.status == 200);
  CHECK(env.consent("e-7", "email") == "opted_out");
}
