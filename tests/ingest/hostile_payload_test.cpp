// Bodies written to break the parser: each must end in the right 4xx, never in a crash, a hang or
// another exception.
#include <random>

#include <catch2/catch.hpp>

#include "gateway/ingest/payload_parser.hpp"
#include "ingest_test_util.hpp"

using namespace herald::ingest;
using herald::ingest::test::expect_api_error;
using herald::ingest::test::received;

namespace {

ApiError error_of(Endpoint endpoint, std::string_view body) {
  PayloadParser parser;
  return expect_api_error([&] { parser.parse(endpoint, body, received()); });
}

std::string nested(std::size_t depth, std::string_view open = "[", std::string_view close = "]",
                   std::string_view inner = "1") {
  std::string text;
  for (std::size_t i = 0; i < depth; ++i) text += open;
  text += inner;
  for (std::size_t i = 0; i < depth; ++i) text += close;
  return text;
}

std::string track_with_properties(std::string_view properties) {
  return R"({"userId":"u","event":"e","properties":)" + std::string(properties) + "}";
}

}  // namespace

TEST_CASE("nesting 100,000 deep is invalid JSON", "[ingest][hostile]") {
  for (const Endpoint endpoint : {Endpoint::kTrack, Endpoint::kIdentify, Endpoint::kBatch}) {
    const ApiError arrays = error_of(endpoint, nested(100000));
    CHECK(arrays.status == 400);
    CHECK(arrays.code == "invalid_json");
    const ApiError objects = error_of(endpoint, nested(100000, R"({"a":)", "}", "1"));
    CHECK(objects.code == "invalid_json");
    const ApiError unclosed = error_of(endpoint, std::string(100000, '['));
    CHECK(unclosed.code == "invalid_json");
  }
}

TEST_CASE("64 levels are accepted, 65 are not", "[ingest][hostile]") {
  PayloadParser parser;
  // The event object is level 1 and properties level 2: 62 more arrays make 64.
  const auto deep = [](std::size_t arrays) {
    return track_with_properties(R"({"a":)" + nested(arrays) + "}");
  };
  CHECK(parser.parse(Endpoint::kTrack, deep(62), received()).events.size() == 1);
  const ApiError error =
      expect_api_error([&] { parser.parse(Endpoint::kTrack, deep(63), received()); });
  CHECK(error.code == "invalid_json");
  CHECK_THAT(error.message, Catch::Contains("64"));

  // The same event inside a batch is measured from the event, not from the body.
  const auto batch = [&](std::size_t arrays) {
    std::string item = deep(arrays);
    item.insert(1, R"("type":"track",)");
    return R"({"batch":[)" + item + "]}";
  };
  CHECK(parser.parse(Endpoint::kBatch, batch(62), received()).events.size() == 1);
  const ApiError in_batch =
      expect_api_error([&] { parser.parse(Endpoint::kBatch, batch(63), received()); });
  CHECK(in_batch.code == "invalid_json");
  CHECK(in_batch.details.size() == 1);
  CHECK_THAT(in_batch.field, Catch::StartsWith("batch[0].properties.a"));
  // An ignored member is held to the same rule.
  const ApiError ignored =
      error_of(Endpoint::kTrack, R"({"userId":"u","event":"e","_metadata":)" + nested(64) + "}");
  CHECK(ignored.code == "invalid_json");
}

TEST_CASE("invalid UTF-8 is invalid JSON", "[ingest][hostile]") {
  for (const std::string& bad :
       {std::string("\xff"), std::string("\xc0\xaf"), std::string("\xe2\x82"),
        std::string("\xed\xa0\x80"), std::string("\xf4\x90\x80\x80"), std::string("a\x80")}) {
    const ApiError in_value =
        error_of(Endpoint::kTrack, track_with_properties(R"({"a":")" + bad + "\"}"));
    CHECK(in_value.code == "invalid_json");
    CHECK_THAT(in_value.message, Catch::Contains("UTF-8"));
    const ApiError in_key =
        error_of(Endpoint::kTrack, track_with_properties("{\"" + bad + "\":1}"));
    CHECK(in_key.code == "invalid_json");
    const ApiError in_user = error_of(Endpoint::kTrack, R"({"event":"e","userId":")" + bad + "\"}");
    CHECK(in_user.code == "invalid_json");
  }
}

TEST_CASE("lone surrogate escapes are invalid JSON", "[ingest][hostile]") {
  for (const char* escape : {R"(\ud800)", R"(\udc00)", R"(\ud800\u0041)"}) {
    CHECK(
        error_of(Endpoint::kTrack, track_with_properties(std::string(R"({"a":")") + escape + "\"}"))
            .code == "invalid_json");
  }
  // A proper pair is fine.
  PayloadParser parser;
  const auto request =
      parser.parse(Endpoint::kTrack, track_with_properties(R"({"a":"\ud83d\ude00"})"), received());
  CHECK(request.events.at(0).properties == "{\"a\":\"\xF0\x9F\x98\x80\"}");
}

TEST_CASE("numbers outside a double are invalid JSON", "[ingest][hostile]") {
  for (const char* number : {"1e400", "-1e400", "1E309", "123e999999999999"}) {
    const ApiError error =
        error_of(Endpoint::kTrack, track_with_properties(std::string(R"({"a":)") + number + "}"));
    CHECK(error.code == "invalid_json");
    CHECK_THAT(error.message, Catch::Contains("number"));
  }
  for (const char* number : {"NaN", "Infinity", "-Infinity", "01", "1.", ".5", "+1", "0x10"}) {
    CHECK(error_of(Endpoint::kTrack, track_with_properties(std::string(R"({"a":)") + number + "}"))
              .code == "invalid_json");
  }
}

TEST_CASE("big integers within a double are accepted as doubles", "[ingest][hostile]") {
  PayloadParser parser;
  const auto request = parser.parse(
      Endpoint::kTrack,
      track_with_properties(
          R"({"big":123456789012345678901234567890,"neg":-9223372036854775809,"tiny":1e-400,"s":"99999999999999999999"})"),
      received());
  const auto properties = nlohmann::json::parse(request.events.at(0).properties);
  CHECK(properties["big"].get<double>() == Approx(1.2345678901234568e29));
  CHECK(properties["neg"].get<double>() == Approx(-9.223372036854775809e18));
  CHECK(properties["tiny"].get<double>() == 0.0);
  CHECK(properties["s"] == "99999999999999999999");  // strings untouched
  // A big userId is a number too, in its string form.
  CHECK(
      parser.parse(Endpoint::kTrack, R"({"userId":100000000000000000000,"event":"e"})", received())
          .events.at(0)
          .user_id == "1e+20");
}

TEST_CASE("NUL characters are refused", "[ingest][hostile]") {
  const ApiError escaped = error_of(Endpoint::kTrack, track_with_properties(R"({"a":"x\u0000y"})"));
  CHECK(escaped.code == "invalid_json");
  CHECK(escaped.field == "properties.a");
  const ApiError key = error_of(Endpoint::kTrack, track_with_properties(R"({"a\u0000":1})"));
  CHECK(key.code == "invalid_json");
  const ApiError user = error_of(Endpoint::kTrack, R"({"userId":"u\u0000","event":"e"})");
  CHECK(user.code == "invalid_json");
  CHECK(user.field == "userId");
  const ApiError in_array =
      error_of(Endpoint::kTrack, track_with_properties(R"({"l":[1,"\u0000"]})"));
  CHECK(in_array.field == "properties.l[1]");
  std::string raw = track_with_properties(R"({"a":"x y"})");
  raw[raw.find(' ')] = '\0';
  CHECK(error_of(Endpoint::kTrack, raw).code == "invalid_json");
  CHECK(error_of(Endpoint::kTrack, std::string("\0", 1)).code == "invalid_json");
}

TEST_CASE("control characters must be escaped", "[ingest][hostile]") {
  CHECK(error_of(Endpoint::kTrack, track_with_properties("{\"a\":\"x\ny\"}")).code ==
        "invalid_json");
  PayloadParser parser;
  const auto request = parser.parse(
      Endpoint::kTrack, track_with_properties(R"({"a":"x\ny\t\u0001\"\\"})"), received());
  CHECK(request.events.at(0).properties == R"({"a":"x\ny\t\u0001\"\\"})");
}

TEST_CASE("duplicate keys are refused", "[ingest][hostile]") {
  const ApiError top = error_of(Endpoint::kTrack, R"({"userId":"a","event":"e","userId":"b"})");
  CHECK(top.code == "invalid_json");
  CHECK(top.field == "userId");
  CHECK_THAT(top.message, Catch::Contains("duplicate"));
  const ApiError nested_key =
      error_of(Endpoint::kTrack, track_with_properties(R"({"x":{"k":1,"k":2}})"));
  CHECK(nested_key.field == "properties.x.k");
  // Past the linear scan: a large object with its duplicate at the end.
  std::string large = "{";
  for (int i = 0; i < 200; ++i) large += "\"k" + std::to_string(i) + "\":1,";
  large += "\"k7\":2}";
  const ApiError large_error = error_of(Endpoint::kTrack, track_with_properties(large));
  CHECK(large_error.code == "invalid_json");
  CHECK(large_error.field == "properties.k7");
  // The same key in sibling objects is fine.
  PayloadParser parser;
  CHECK_NOTHROW(parser.parse(
      Endpoint::kTrack, track_with_properties(R"({"a":{"k":1},"b":{"k":2},"k":3})"), received()));
}

TEST_CASE("malformed documents are invalid JSON", "[ingest][hostile]") {
  for (const std::string& body :
       {std::string(""), std::string("   "), std::string("{"), std::string("{}x"),
        std::string("{}{}"), std::string(R"({"userId":"u",})"), std::string("{'userId':'u'}"),
        std::string(R"({"userId":"u" "event":"e"})"), std::string("{\"userId\":\"u\"/*c*/}"),
        std::string(R"({"userId":"u)"), std::string("\xef\xbb\xbf{}"), std::string("[1,]"),
        std::string(R"({"a":tru})"), std::string(R"({"a":"\x"})")}) {
    INFO(body);
    for (const Endpoint endpoint : {Endpoint::kTrack, Endpoint::kBatch}) {
      const ApiError error = error_of(endpoint, body);
      CHECK(error.status == 400);
      CHECK(error.code == "invalid_json");
    }
  }
}

TEST_CASE("huge strings are refused by size, not by crashing", "[ingest][hostile]") {
  const std::string huge(4 * 1024 * 1024, 'a');
  CHECK(error_of(Endpoint::kTrack, track_with_properties("{\"a\":\"" + huge + "\"}")).code ==
        "event_too_large");
  CHECK(error_of(Endpoint::kTrack, R"({"event":"e","userId":")" + huge + "\"}").code ==
        "event_too_large");
  // A string of escapes grows when decoded? No: it shrinks, and is still measured minified.
  std::string escapes;
  for (int i = 0; i < 20000; ++i) escapes += "\\u00e9";
  CHECK(error_of(Endpoint::kTrack, track_with_properties("{\"a\":\"" + escapes + "\"}")).code ==
        "event_too_large");
}

TEST_CASE("wrong types everywhere name their field", "[ingest][hostile]") {
  struct Case {
    Endpoint endpoint;
    const char* key;
    const char* field;
  };
  const Case cases[] = {
      {Endpoint::kTrack, "userId", "userId"},
      {Endpoint::kTrack, "event", "event"},
      {Endpoint::kTrack, "anonymousId", "anonymousId"},
      {Endpoint::kTrack, "properties", "properties"},
      {Endpoint::kTrack, "context", "context"},
      {Endpoint::kTrack, "integrations", "integrations"},
      {Endpoint::kTrack, "timestamp", "timestamp"},
      {Endpoint::kTrack, "sentAt", "sentAt"},
      {Endpoint::kTrack, "messageId", "messageId"},
      {Endpoint::kIdentify, "traits", "traits"},
      {Endpoint::kTrack, "originalTimestamp", "originalTimestamp"},
  };
  std::vector<std::string> accepted;
  for (const auto& c : cases) {
    for (const char* wrong : {"true", "[]", "[1,2]", "{\"x\":1}", "3.5", "\"text\""}) {
      std::string body =
          R"({"userId":"u","event":"e","traits":{},")" + std::string(c.key) + "\":" + wrong + "}";
      // Replace the default member rather than duplicate it.
      for (const char* member : {R"("userId":"u",)", R"("event":"e",)", R"("traits":{},)"}) {
        if (std::string(member).find(std::string("\"") + c.key + "\"") == 0) {
          body.erase(body.find(member), std::string(member).size());
        }
      }
      PayloadParser parser;
      try {
        parser.parse(c.endpoint, body, received());
        // Some of these types are right for some members (a string event, a number userId...).
        accepted.push_back(body);
      } catch (const ApiError& error) {
        INFO(body);
        CHECK(error.status == 400);
        CHECK(error.field == c.field);
      }
    }
  }
  // Exactly the right types got through: a string or number userId/anonymousId, a string event,
  // messageId or time, objects where objects belong.
  CHECK(accepted.size() == 10);
  // In a batch, the path carries the index.
  const ApiError error = error_of(
      Endpoint::kBatch,
      R"({"batch":[{"type":"track","userId":"u","event":"e"},{"type":"track","userId":"u","event":"e"},{"type":"track","userId":"u","event":"e"},{"type":"track","userId":"u","event":{"n":1}}]})");
  CHECK(error.field == "batch[3].event");
  CHECK(error_of(Endpoint::kBatch, R"({"batch":[{"type":7}]})").field == "batch[0].type");
  CHECK(error_of(Endpoint::kBatch, R"({"batch":[null]})").field == "batch[0]");
}

TEST_CASE("a problem-laden batch gets a bounded answer", "[ingest][hostile]") {
  std::string body = R"({"batch":[)";
  for (int i = 0; i < 2500; ++i) {
    if (i) body += ',';
    body +=
        R"({"type":"track","event":1,"properties":1,"context":1,"integrations":1,"timestamp":1,"sentAt":1})";
  }
  body += "]}";
  const ApiError error = error_of(Endpoint::kBatch, body);
  CHECK(error.code == "invalid_event");
  CHECK(error.details.size() == 2500 * 4);
}

TEST_CASE("random corruption of real bodies never escapes as anything but a 400",
          "[ingest][hostile]") {
  const std::string seeds[] = {
      R"({"userId":"u1","event":"order.completed","properties":{"total":19.99,"items":[{"sku":"A"}]},"timestamp":"2024-02-01T10:00:00+01:00","context":{"traits":{"email":"a@b.co"}}})",
      R"({"batch":[{"type":"identify","userId":7,"traits":{"phone":"+14155552671","locale":"en-us","birthday":"--02-29"}},{"type":"track","userId":"x","event":"e"}],"sentAt":"2024-02-01T10:00:00Z"})",
  };
  std::mt19937 random(20240301);
  const std::string alphabet = "{}[]\",:\\u0 1e-+.9atnfl\x80\xff\xc3";
  PayloadParser parser;
  int accepted = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string body = seeds[round % 2];
    const int edits = 1 + int(random() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = random() % body.size();
      switch (random() % 3) {
        case 0:
          body[at] = alphabet[random() % alphabet.size()];
          break;
        case 1:
          body.erase(at, 1 + random() % 3);
          break;
        default:
          body.insert(at, 1, alphabet[random() % alphabet.size()]);
      }
      if (body.empty()) body = "{";
    }
    const Endpoint endpoint = round % 2 ? Endpoint::kBatch : Endpoint::kTrack;
    try {
      parser.parse(endpoint, body, received());
      ++accepted;
    } catch (const ApiError& error) {
      REQUIRE(error.status == 400);
      REQUIRE_FALSE(error.code.empty());
      REQUIRE_NOTHROW(error.to_json().dump());
    }
  }
  CHECK(accepted > 0);
}
