// The smtp adapter against a real SMTP server (aiosmtpd, tests/support/sandbox.hpp): the
// message parsed back by Python's email package, List-Unsubscribe on marketing mail only,
// STARTTLS enforced, AUTH, one connection for many messages, refusals, silences and
// config errors.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "channels/http_client.hpp"
#include "channels/smtp/mime.hpp"
#include "channels/smtp/smtp_channel.hpp"
#include "tests/support/process.hpp"
#include "tests/support/sandbox.hpp"
#include "tests/support/temp_dir.hpp"

namespace asio = boost::asio;
using herald::channels::AdapterContext;
using herald::channels::Channel;
using herald::channels::HttpClient;
using herald::channels::OutboundMessage;
using herald::channels::SendContext;
using herald::channels::SendResult;
using herald::channels::SmtpRequest;
using herald::channels::SmtpResponse;
using herald::test::SmtpSink;
using herald::test::SmtpSinkOptions;
using herald::test::TempDir;
using Json = nlohmann::json;
using Outcome = SendResult::Outcome;
namespace smtp = herald::channels::smtp;

namespace {

/// One worker's view: an io_context with its HttpClient.
struct Worker {
  asio::io_context ioc;
  HttpClient http{ioc};
  SendContext context{&http, nullptr};

  /// Runs `body` as a coroutine on the context until it finishes.
  template <typename Body>
  void run(Body body, std::chrono::seconds limit = std::chrono::seconds(60)) {
    bool done = false;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          co_await body();
          done = true;
        },
        asio::detached);
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done && std::chrono::steady_clock::now() < deadline) {
      ioc.restart();
      ioc.run_for(std::chrono::milliseconds(10));
    }
    REQUIRE(done);
  }

  /// Sends the messages one after the other (so that each may reuse the connection).
  std::vector<SendResult> send(Channel& channel, const std::vector<OutboundMessage>& messages) {
    std::vector<SendResult> results;
    run([&]() -> asio::awaitable<void> {
      for (const auto& m : messages) {
        auto r = co_await channel.send(m, context);
        results.push_back(std::move(r));
      }
    });
    return results;
  }

  SendResult send(Channel& channel, const OutboundMessage& message) {
    return send(channel, std::vector<OutboundMessage>{message}).at(0);
  }
};

SmtpSinkOptions starttls_only() {
  SmtpSinkOptions options;
  options.starttls = true;
  return options;
}

std::unique_ptr<Channel> make_channel(const std::string& yaml, const std::string& data_dir = "/") {
  AdapterContext context;
  context.data_dir = data_dir;
  return smtp::make_smtp(context, YAML::Load(yaml), "herald.yaml");
}

/// A section for `sink`: STARTTLS trusted through the sink's certificate when it has one.
std::string section_for(const SmtpSink& sink, const std::string& extra = {}) {
  std::string yaml = "provider: smtp\nurl: " + sink.url() +
                     "\nfrom: \"Boutique Élise <news@shop.example>\"\ntimeout: 10s\n";
  if (sink.cert_file().empty())
    yaml += "starttls: false\n";
  else
    yaml += "ca_file: " + sink.cert_file() + "\n";
  return yaml + extra;
}

OutboundMessage email(const std::string& id, const std::string& to = "ann@example.com") {
  OutboundMessage m;
  m.id = id;
  m.channel = "email";
  m.to = to;
  m.content = nlohmann::ordered_json::object();
  m.content["subject"] = "Votre commande n° 42 est expédiée — merci beaucoup, à bientôt 🎉";
  m.content["html"] =
      "<p>Bonjour <b>Ann</b>,</p>\n<p>votre commande est partie : " + std::string(120, 'x') +
      " = fin.</p>\n.\nFrom here\n";
  m.content["text"] = "Bonjour Ann,\nvotre commande est partie : " + std::string(120, 'x') +
                      " = fin. \n.\nFrom here\n";
  m.transactional = true;
  m.customer_id = "cust-1";
  m.template_name = "order_shipped";
  return m;
}

/// The message as Python's email package (policy.default) reads it.
Json parse_mime(const std::string& raw) {
  TempDir dir;
  dir.write("message.eml", raw);
  dir.write("parse.py", R"PY(
import json, sys
from email import policy
from email.parser import BytesParser
msg = BytesParser(policy=policy.default).parsebytes(open(sys.argv[1], 'rb').read())
def headers(part):
    return [[k, str(v)] for k, v in part.items()]
out = {
    'headers': headers(msg),
    'content_type': msg.get_content_type(),
    'defects': [repr(d) for p in msg.walk() for d in p.defects],
    'from': [[a.display_name, a.addr_spec] for a in msg['From'].addresses],
    'to': [a.addr_spec for a in msg['To'].addresses],
    'reply_to': [[a.display_name, a.addr_spec] for a in msg['Reply-To'].addresses] if msg['Reply-To'] else [],
    'date_parsed': msg['Date'].datetime is not None,
    'parts': [{'type': p.get_content_type(), 'charset': p.get_content_charset(),
               'encoding': p.get('Content-Transfer-Encoding'),
               'content': p.get_content().replace('\r\n', '\n')}
              for p in msg.walk() if not p.is_multipart()],
}
json.dump(out, open(sys.argv[2], 'w'))
)PY");
  herald::test::Process python({herald::test::sandbox_python(), dir.file("parse.py"),
                                dir.file("message.eml"), dir.file("parsed.json")},
                               dir.file("python.log"));
  auto status = python.wait(std::chrono::seconds(30));
  INFO(python.output());
  REQUIRE(status == 0);
  return Json::parse(dir.read("parsed.json"));
}

/// Every value of the header `name` (case-insensitive).
std::vector<std::string> header_values(const Json& parsed, const std::string& name) {
  std::vector<std::string> out;
  auto lower = [](std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  for (const auto& h : parsed["headers"])
    if (lower(h[0].get<std::string>()) == lower(name)) out.push_back(h[1].get<std::string>());
  return out;
}

std::string header(const Json& parsed, const std::string& name) {
  auto values = header_values(parsed, name);
  REQUIRE(values.size() == 1);
  return values[0];
}

/// CRLF everywhere (no bare CR or LF), header lines within 998 octets, body lines within 76.
void check_lines(const std::string& raw) {
  REQUIRE(raw.size() >= 2);
  CHECK(raw.substr(raw.size() - 2) == "\r\n");
  bool body = false;
  std::size_t pos = 0;
  while (pos < raw.size()) {
    auto end = raw.find("\r\n", pos);
    REQUIRE(end != std::string::npos);
    auto line = raw.substr(pos, end - pos);
    INFO(line);
    CHECK(line.find_first_of("\r\n") == std::string::npos);
    CHECK(line.size() <= (body ? 76u : 998u));
    if (line.empty()) body = true;
    pos = end + 2;
  }
}

/// A TCP socket that accepts connections (the kernel's backlog) and never answers.
struct SilentServer {
  SilentServer() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  ~SilentServer() { ::close(fd); }
  int fd = -1;
  int port = 0;
};

/// The sink refusing recipients whose address contains a pattern (smtp_sink.py --reject,
/// which SmtpSinkOptions does not offer), started the way SmtpSink starts it.
struct RejectingSink {
  explicit RejectingSink(const std::vector<std::string>& rejects) {
    std::filesystem::create_directories(dir.file("mail"));
    std::vector<std::string> argv{herald::test::sandbox_python(),
                                  std::string(HERALD_SOURCE_DIR) + "/tests/sandbox/smtp_sink.py",
                                  "--port-file",
                                  dir.file("port"),
                                  "--dir",
                                  dir.file("mail")};
    for (const auto& r : rejects) argv.insert(argv.end(), {"--reject", r});
    process = std::make_unique<herald::test::Process>(argv, dir.file("smtp.log"));
    REQUIRE(herald::test::eventually([&] { return std::filesystem::exists(dir.file("port")); },
                                     std::chrono::seconds(15)));
    port = std::stoi(dir.read("port"));
  }
  std::size_t delivered() const {
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.file("mail")))
      n += e.path().extension() == ".json";
    return n;
  }
  TempDir dir;
  std::unique_ptr<herald::test::Process> process;
  int port = 0;
};

}  // namespace

// ------------------------------------------------------------------------ the message

TEST_CASE("a message over STARTTLS reads back through a MIME parser") {
  SmtpSink sink(starttls_only());
  auto channel =
      make_channel(section_for(sink, "reply_to: '\"Service, client\" <help@shop.example>'\n"));
  Worker worker;
  auto message = email("m7f3a9c01");
  auto result = worker.send(*channel, message);
  INFO(result.error_code << ": " << result.error_message << "\n" << sink.log());
  REQUIRE(result.outcome == Outcome::kAccepted);
  CHECK(result.provider_message_id == "<m7f3a9c01@shop.example>");

  REQUIRE(sink.wait_for(1));
  auto received = sink.messages().at(0);
  CHECK(received.tls);
  CHECK(received.mail_from == "news@shop.example");
  CHECK(received.rcpt_tos == std::vector<std::string>{"ann@example.com"});
  check_lines(received.raw);

  auto parsed = parse_mime(received.raw);
  INFO(parsed.dump(1));
  CHECK(parsed["defects"].empty());
  CHECK(parsed["from"] == Json::array({Json::array({"Boutique Élise", "news@shop.example"})}));
  CHECK(parsed["to"] == Json::array({"ann@example.com"}));
  CHECK(parsed["reply_to"] == Json::array({Json::array({"Service, client", "help@shop.example"})}));
  CHECK(header(parsed, "Subject") == message.content["subject"].get<std::string>());
  CHECK(header(parsed, "Message-ID") == "<m7f3a9c01@shop.example>");
  CHECK(header(parsed, "X-Herald-Message-Id") == "m7f3a9c01");
  CHECK(header(parsed, "MIME-Version") == "1.0");
  CHECK(parsed["date_parsed"] == true);
  CHECK(header_values(parsed, "List-Unsubscribe").empty());  // transactional
  CHECK(header_values(parsed, "List-Unsubscribe-Post").empty());

  CHECK(parsed["content_type"] == "multipart/alternative");
  REQUIRE(parsed["parts"].size() == 2);
  const auto& text = parsed["parts"][0];
  const auto& html = parsed["parts"][1];
  CHECK(text["type"] == "text/plain");
  CHECK(html["type"] == "text/html");
  for (const auto& part : parsed["parts"]) {
    CHECK(part["charset"] == "utf-8");
    CHECK(part["encoding"] == "quoted-printable");
  }
  CHECK(text["content"] == message.content["text"]);
  CHECK(html["content"] == message.content["html"]);
  // The subject is long and not ASCII: encoded words, folded.
  CHECK_THAT(received.raw, Catch::Contains("Subject: =?UTF-8?B?"));
}

TEST_CASE("a message without html is a single text part, and a resend keeps its Message-ID") {
  SmtpSink sink;
  auto channel = make_channel(section_for(sink));
  Worker worker;
  auto message = email("m-plain.1");
  message.content.erase("html");
  message.content["subject"] = "Your code is 123456";
  auto results = worker.send(*channel, {message, message});
  REQUIRE(results.at(0).outcome == Outcome::kAccepted);
  REQUIRE(results.at(1).outcome == Outcome::kAccepted);
  CHECK(results[0].provider_message_id == results[1].provider_message_id);
  CHECK(results[0].provider_message_id == "<m-plain=2E1@shop.example>");

  REQUIRE(sink.wait_for(2));
  auto messages = sink.messages();
  for (const auto& received : messages) {
    check_lines(received.raw);
    auto parsed = parse_mime(received.raw);
    CHECK(parsed["defects"].empty());
    CHECK(parsed["content_type"] == "text/plain");
    REQUIRE(parsed["parts"].size() == 1);
    CHECK(parsed["parts"][0]["content"] == message.content["text"]);
    CHECK(header(parsed, "Subject") == "Your code is 123456");
    CHECK(header(parsed, "Message-ID") == results[0].provider_message_id);
  }
}

TEST_CASE("marketing mail carries one-click List-Unsubscribe, transactional mail does not") {
  SmtpSink sink;
  Worker worker;
  auto marketing = email("m-mkt");
  marketing.transactional = false;
  marketing.unsubscribe_url = "https://herald.example/u/tok3n";

  SECTION("with unsubscribe_mailto") {
    auto channel = make_channel(section_for(sink, "unsubscribe_mailto: unsub@shop.example\n"));
    auto transactional = email("m-txn");
    auto results = worker.send(*channel, {marketing, transactional});
    CHECK(results.at(0).outcome == Outcome::kAccepted);
    CHECK(results.at(1).outcome == Outcome::kAccepted);
    REQUIRE(sink.wait_for(2));
    auto messages = sink.messages();
    auto first = parse_mime(messages.at(0).raw);
    CHECK(header(first, "List-Unsubscribe") ==
          "<https://herald.example/u/tok3n>, <mailto:unsub@shop.example?subject=unsubscribe>");
    CHECK(header(first, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click");
    auto second = parse_mime(messages.at(1).raw);
    CHECK(header_values(second, "List-Unsubscribe").empty());
    CHECK(header_values(second, "List-Unsubscribe-Post").empty());
  }
  SECTION("without") {
    auto channel = make_channel(section_for(sink));
    CHECK(worker.send(*channel, marketing).outcome == Outcome::kAccepted);
    REQUIRE(sink.wait_for(1));
    auto parsed = parse_mime(sink.messages().at(0).raw);
    CHECK(header(parsed, "List-Unsubscribe") == "<https://herald.example/u/tok3n>");
    CHECK(header(parsed, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click");
  }
}

TEST_CASE("header values cannot inject headers, and a bad recipient is refused before SMTP") {
  SmtpSink sink;
  auto channel = make_channel(section_for(sink));
  Worker worker;
  auto message = email("m-inject\r\nBcc: x@evil.example");
  message.content["subject"] = "Hello\r\nBcc: evil@evil.example\r\n\r\nbody";
  message.transactional = false;
  message.unsubscribe_url = "https://herald.example/u/t\r\nBcc: evil2@evil.example";
  auto bad_to = email("m-bad-to", "ann@example.com>\r\nRCPT TO:<evil@evil.example");
  auto results = worker.send(*channel, {message, bad_to});
  REQUIRE(results.at(0).outcome == Outcome::kAccepted);
  CHECK(results[1].outcome == Outcome::kPermanent);
  CHECK(results[1].error_code == "invalid_address");
  CHECK_THAT(results[1].error_message, !Catch::Contains("evil"));

  REQUIRE(sink.wait_for(1));
  CHECK_FALSE(sink.wait_for(2, std::chrono::milliseconds(300)));
  auto received = sink.messages().at(0);
  CHECK(received.rcpt_tos == std::vector<std::string>{"ann@example.com"});
  check_lines(received.raw);
  auto parsed = parse_mime(received.raw);
  CHECK(parsed["defects"].empty());
  CHECK(header_values(parsed, "Bcc").empty());
  CHECK(header(parsed, "Subject") == "Hello Bcc: evil@evil.example body");
  CHECK(parsed["parts"][0]["content"] == message.content["text"]);
}

// ------------------------------------------------------------------ TLS and AUTH

TEST_CASE("STARTTLS is required: a server without it gets nothing") {
  SmtpSink plain;
  // The default starttls: true against a server that does not offer STARTTLS.
  auto channel = make_channel("provider: smtp\nurl: " + plain.url() +
                              "\nfrom: news@shop.example\nusername: shop\npassword: secret\n");
  Worker worker;
  auto result = worker.send(*channel, email("m-tls"));
  CHECK(result.outcome == Outcome::kPermanent);
  CHECK(result.error_code == "smtp_tls_failed");
  CHECK_THAT(result.error_message, Catch::Contains("STARTTLS"));
  CHECK_FALSE(plain.wait_for(1, std::chrono::milliseconds(500)));
}

TEST_CASE("an untrusted certificate is a permanent TLS failure") {
  SmtpSink sink(starttls_only());
  auto channel = make_channel("provider: smtp\nurl: " + sink.url() +
                              "\nfrom: news@shop.example\n");  // no ca_file
  Worker worker;
  auto result = worker.send(*channel, email("m-cert"));
  CHECK(result.outcome == Outcome::kPermanent);
  CHECK(result.error_code == "smtp_tls_failed");
  CHECK_THAT(result.error_message, Catch::Contains("certificate"));
  CHECK_FALSE(sink.wait_for(1, std::chrono::milliseconds(300)));
}

TEST_CASE("AUTH after STARTTLS, and refused credentials are a permanent failure") {
  SmtpSink sink(SmtpSinkOptions{.starttls = true, .user = "shop", .password = "s3cret"});
  Worker worker;
  auto good = make_channel(section_for(sink, "username: shop\npassword: s3cret\n"));
  auto result = worker.send(*good, email("m-auth"));
  INFO(result.error_code << ": " << result.error_message << "\n" << sink.log());
  CHECK(result.outcome == Outcome::kAccepted);
  REQUIRE(sink.wait_for(1));
  CHECK(sink.messages().at(0).authenticated);
  CHECK(sink.messages().at(0).tls);

  auto bad = make_channel(section_for(sink, "username: shop\npassword: wrong\n"));
  auto refused = worker.send(*bad, email("m-auth-2"));
  CHECK(refused.outcome == Outcome::kPermanent);
  CHECK(refused.error_code == "smtp_login_denied");
  CHECK_THAT(refused.error_message, Catch::Contains("username and password"));

  auto anonymous = make_channel(section_for(sink));
  auto denied = worker.send(*anonymous, email("m-auth-3"));
  CHECK(denied.outcome == Outcome::kPermanent);
  CHECK(denied.error_code == "smtp_530");  // authentication required
  CHECK_FALSE(sink.wait_for(2, std::chrono::milliseconds(300)));
}

// ------------------------------------------------------------------ connections

TEST_CASE("a hundred messages travel over one connection") {
  SmtpSink sink(SmtpSinkOptions{.starttls = true, .user = "shop", .password = "s3cret"});
  auto channel = make_channel(section_for(sink, "username: shop\npassword: s3cret\n"));
  Worker worker;
  std::vector<OutboundMessage> messages;
  for (int i = 0; i < 100; ++i)
    messages.push_back(
        email("m-" + std::to_string(i), "user" + std::to_string(i) + "@example.com"));
  auto results = worker.send(*channel, messages);
  for (const auto& r : results) CHECK(r.outcome == Outcome::kAccepted);
  REQUIRE(sink.wait_for(100));
  auto received = sink.messages();
  REQUIRE(received.size() == 100);
  for (int i = 0; i < 100; ++i) {
    CHECK(received[i].connection_id == received[0].connection_id);
    CHECK(received[i].rcpt_tos ==
          std::vector<std::string>{"user" + std::to_string(i) + "@example.com"});
  }
}

TEST_CASE("HttpClient::smtp reports reuse, and concurrent messages each complete") {
  SmtpSink sink;
  Worker worker;
  auto request = [&](int i) {
    SmtpRequest r;
    r.url = sink.url();
    r.require_tls = false;
    r.mail_from = "news@shop.example";
    r.rcpt = {"user" + std::to_string(i) + "@example.com"};
    r.payload = "Subject: " + std::to_string(i) + "\r\n\r\n.leading dot\r\n";
    return r;
  };
  std::vector<SmtpResponse> responses;
  worker.run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 2; ++i) {
      auto r = co_await worker.http.smtp(request(i));
      responses.push_back(std::move(r));
    }
  });
  REQUIRE(responses.size() == 2);
  CHECK(responses[0].accepted());
  CHECK(responses[0].code == 250);
  CHECK_FALSE(responses[0].reused_connection);
  CHECK(responses[1].accepted());
  CHECK(responses[1].reused_connection);

  // Ten at once on one thread: each gets a connection of its own.
  int done = 0;
  for (int i = 2; i < 12; ++i)
    asio::co_spawn(
        worker.ioc,
        [&, r = request(i)]() mutable -> asio::awaitable<void> {
          auto response = co_await worker.http.smtp(std::move(r));
          CHECK(response.accepted());
          ++done;
        },
        asio::detached);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (done < 10 && std::chrono::steady_clock::now() < deadline) {
    worker.ioc.restart();
    worker.ioc.run_for(std::chrono::milliseconds(10));
  }
  CHECK(done == 10);
  REQUIRE(sink.wait_for(12));
  auto received = sink.messages();
  CHECK(received.at(0).raw == "Subject: 0\r\n\r\n.leading dot\r\n");  // dot-stuffed on the wire
  CHECK(worker.http.active() == 0);
}

TEST_CASE("a 4xx reply is retryable, a recipient refused with 550 or 553 bounced, and the next message goes") {
  RejectingSink sink({"busy:451", "full:452", "nobody:550", "bad:553", "policy:554"});
  auto channel = make_channel("provider: smtp\nurl: smtp://127.0.0.1:" + std::to_string(sink.port) +
                              "\nstarttls: false\nfrom: news@shop.example\n");
  Worker worker;
  auto results =
      worker.send(*channel, {email("m-1", "busy@example.com"), email("m-2", "full@example.com"),
                             email("m-3", "nobody@example.com"), email("m-4", "bad@example.com"),
                             email("m-5", "ann@example.com"), email("m-6", "policy@example.com")});
  CHECK(results.at(0).outcome == Outcome::kRetryable);
  CHECK(results[0].error_code == "smtp_451");
  CHECK(results[1].outcome == Outcome::kRetryable);
  CHECK(results[1].error_code == "smtp_452");
  // A mailbox that does not exist is a hard bounce (the address joins the suppression
  // list); a policy refusal (554) is permanent for this message only.
  CHECK(results[2].outcome == Outcome::kBounced);
  CHECK(results[2].error_code == "smtp_550");
  CHECK(results[3].outcome == Outcome::kBounced);
  CHECK(results[3].error_code == "smtp_553");
  CHECK(results.at(5).outcome == Outcome::kPermanent);
  CHECK(results[5].error_code == "smtp_554");
  for (int i = 0; i < 4; ++i) {
    CHECK_THAT(results[i].error_message, !Catch::Contains("example"));
    CHECK(results[i].provider_message_id.empty());
  }
  CHECK(results[4].outcome == Outcome::kAccepted);
  CHECK(herald::test::eventually([&] { return sink.delivered() == 1; }));
}

TEST_CASE("a silent server times out and a refused connection is retryable") {
  Worker worker;
  SECTION("silent") {
    SilentServer silent;
    auto channel =
        make_channel("provider: smtp\nurl: smtp://127.0.0.1:" + std::to_string(silent.port) +
                     "\nfrom: news@shop.example\ntimeout: 300ms\n");
    auto started = std::chrono::steady_clock::now();
    auto result = worker.send(*channel, email("m-silent"));
    auto waited = std::chrono::steady_clock::now() - started;
    CHECK(result.outcome == Outcome::kRetryable);
    CHECK(result.error_code == "smtp_timeout");
    CHECK(waited >= std::chrono::milliseconds(250));
    CHECK(waited < std::chrono::seconds(5));
  }
  SECTION("refused") {
    auto channel = make_channel(
        "provider: smtp\nurl: smtp://127.0.0.1:" + std::to_string(herald::test::free_port()) +
        "\nfrom: news@shop.example\n");
    auto result = worker.send(*channel, email("m-refused"));
    CHECK(result.outcome == Outcome::kRetryable);
    CHECK(result.error_code == "smtp_connect_failed");
  }
}

// ------------------------------------------------------------------ classification

TEST_CASE("SMTP outcomes are classified") {
  auto with_code = [](long code, int curl_code) {
    SmtpResponse r;
    r.code = code;
    r.curl_code = curl_code;
    r.error = "RCPT failed: " + std::to_string(code);
    return r;
  };
  auto ok = smtp::classify(with_code(250, 0), "<m@x>");
  CHECK(ok.outcome == Outcome::kAccepted);
  CHECK(ok.provider_message_id == "<m@x>");

  for (long code : {421L, 450L, 451L, 452L}) {
    auto r = smtp::classify(with_code(code, 55), "<m@x>");
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == "smtp_" + std::to_string(code));
  }
  // A recipient refused as unknown (550, 551) or not allowed (553) is a hard bounce; a full
  // mailbox (552) or a refusal of anything but the recipient is permanent for the message.
  for (long code : {550L, 551L, 553L}) {
    auto r = smtp::classify(with_code(code, 55), "<m@x>");
    CHECK(r.outcome == Outcome::kBounced);
    CHECK(r.error_code == "smtp_" + std::to_string(code));
    auto at_data = with_code(code, 55);
    at_data.error = "DATA failed: " + std::to_string(code);
    CHECK(smtp::classify(at_data, "<m@x>").outcome == Outcome::kPermanent);
  }
  for (long code : {552L, 554L}) {
    auto r = smtp::classify(with_code(code, 55), "<m@x>");
    CHECK(r.outcome == Outcome::kPermanent);
    CHECK(r.error_code == "smtp_" + std::to_string(code));
  }
  auto login = with_code(535, 67);
  login.login_denied = true;
  CHECK(smtp::classify(login, "").error_code == "smtp_login_denied");
  CHECK(smtp::classify(login, "").outcome == Outcome::kPermanent);
  auto closed = with_code(0, 56);  // the server hung up
  CHECK(smtp::classify(closed, "").outcome == Outcome::kRetryable);
}

// ------------------------------------------------------------------ MIME pieces

TEST_CASE("MIME building blocks") {
  CHECK(smtp::quoted_printable("a=b \nc\td\t") == "a=3Db=20\r\nc\td=09");
  CHECK(smtp::quoted_printable("é") == "=C3=A9");
  auto long_line = smtp::quoted_printable(std::string(200, 'y') + "éééé");
  std::istringstream lines(long_line);
  for (std::string line; std::getline(lines, line);) CHECK(line.size() <= 77);  // 76 + CR

  CHECK(smtp::rfc5322_date(std::chrono::system_clock::time_point{}) ==
        "Thu, 01 Jan 1970 00:00:00 +0000");
  CHECK(smtp::message_id("m-1_a", "shop.example") == "<m-1_a@shop.example>");
  CHECK(smtp::message_id("a b<c>", "shop.example") == "<a=20b=3Cc=3E@shop.example>");

  CHECK(smtp::encode_unstructured("Subject", "Hello") == "Hello");
  CHECK(smtp::encode_unstructured("Subject", "a =?x?= b").rfind("=?UTF-8?B?", 0) == 0);
  auto folded =
      smtp::encode_unstructured("Subject", std::string(60, 'a') + " " + std::string(60, 'b'));
  CHECK(folded == std::string(60, 'a') + "\r\n " + std::string(60, 'b'));

  auto parsed = smtp::parse_mailbox("\"Shop \\\"Team\\\"\" <news@shop.example>");
  REQUIRE(parsed);
  CHECK(parsed->name == "Shop \"Team\"");
  CHECK(smtp::format_mailbox(*parsed) == "\"Shop \\\"Team\\\"\" <news@shop.example>");
  CHECK(smtp::parse_mailbox("news@shop.example")->name.empty());
  CHECK_FALSE(smtp::parse_mailbox("news@shop.example\r\nBcc: x@y.z"));
  CHECK_FALSE(smtp::parse_mailbox("Shop <news>"));
  CHECK_FALSE(smtp::valid_address("a b@example.com"));
  CHECK_FALSE(smtp::valid_address("a@example.com>"));
  CHECK_FALSE(smtp::valid_address(".a@example.com"));
  CHECK(smtp::valid_address("élise+tag@exämple.fr"));
}

// ------------------------------------------------------------------ config

TEST_CASE("config: settings are read and checked once") {
  TempDir dir;
  dir.write("ca.pem", "not checked here\n");
  auto channel = make_channel(
      "provider: smtp\nurl: SMTPS://mail.example:465\nusername: shop\npassword: pw\n"
      "from: Shop <news@shop.example>\nreply_to: help@shop.example\n"
      "unsubscribe_mailto: unsub@shop.example\nca_file: ca.pem\ntimeout: 3s\n",
      dir.path());
  const auto& s = dynamic_cast<smtp::SmtpChannel&>(*channel).settings();
  CHECK(channel->provider() == "smtp");
  CHECK(s.url == "smtps://mail.example:465");
  CHECK(s.username == "shop");
  CHECK(s.starttls);
  CHECK(s.from.name == "Shop");
  CHECK(s.from.address == "news@shop.example");
  CHECK(s.reply_to->address == "help@shop.example");
  CHECK(s.unsubscribe_mailto == "unsub@shop.example");
  CHECK(s.ca_file == dir.file("ca.pem"));
  CHECK(s.common.timeout == std::chrono::seconds(3));

  auto relay = make_channel(
      "provider: smtp\nurl: smtp://localhost:25\nstarttls: false\n"
      "from: news@shop.example\n");
  CHECK_FALSE(dynamic_cast<smtp::SmtpChannel&>(*relay).settings().starttls);
}

TEST_CASE("config: errors name the line and column") {
  struct Case {
    std::string yaml;
    int line, column;
    std::string reason;
  };
  const std::string from = "from: news@shop.example\n";
  const std::vector<Case> cases{
      {"provider: smtp\n" + from, 1, 1, "url: required"},
      {"provider: smtp\nurl: https://mail:25\n" + from, 2, 6, "smtp://host:port"},
      {"provider: smtp\nurl: \"smtp://u:p@mail:25\"\n" + from, 2, 6, "username and password"},
      {"provider: smtp\nurl: smtp://\n" + from, 2, 6, "no host"},
      {"provider: smtp\nurl: smtp://mail:25\n", 1, 1, "from: required"},
      {"provider: smtp\nurl: smtp://mail:25\nfrom: not an address\n", 3, 7, "from: expected"},
      {"provider: smtp\nurl: smtp://mail:25\n" + from + "reply_to: \"x <y>\"\n", 4, 11, "reply_to"},
      {"provider: smtp\nurl: smtp://mail:25\n" + from + "unsubscribe_mailto: nobody\n", 4, 21,
       "unsubscribe_mailto"},
      {"provider: smtp\nurl: smtp://mail:25\n" + from + "starttsl: true\n", 4, 1,
       "unknown key \"starttsl\""},
      {"provider: smtp\nurl: smtp://mail:25\n" + from + "starttls: maybe\n", 4, 11,
       "true or false"},
      {"provider: smtp\nurl: smtps://mail:465\n" + from + "starttls: false\n", 4, 11,
       "smtps:// is always TLS"},
      {"provider: smtp\nurl: smtp://mail:25\n" + from +
           "starttls: false\nusername: shop\npassword: pw\n",
       5, 11, "clear text"},
      {"provider: smtp\nurl: smtp://mail:25\n" + from + "username: shop\n", 4, 11,
       "needs a password"},
      {"provider: smtp\nurl: smtp://mail:25\n" + from + "password: pw\n", 4, 11,
       "needs a username"},
      {"provider: smtp\nurl: smtp://mail:25\n" + from + "ca_file: /nonexistent/ca.pem\n", 4, 10,
       "cannot read"},
      {"provider: smtp\nurl: smtp://mail:25\n" + from + "starttls: false\nca_file: /etc/hosts\n", 5,
       10, "unused without TLS"},
      {"provider: smtp\nurl: smtp://mail:25\n" + from + "timeout: 0s\n", 4, 10, "timeout"},
      {"provider: smtp\nurl: [smtp]\n" + from, 2, 6, "url: expected a string"},
  };
  for (const auto& c : cases) {
    INFO(c.yaml);
    try {
      make_channel(c.yaml);
      FAIL("accepted");
    } catch (const herald::config::ConfigError& e) {
      CHECK(e.where().file == "herald.yaml");
      CHECK(e.where().line == c.line);
      CHECK(e.where().column == c.column);
      CHECK_THAT(e.reason(), Catch::Contains(c.reason));
    }
  }
}
