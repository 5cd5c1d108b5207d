#include "gateway/ingest/payload_parser.hpp"

#include <catch2/catch.hpp>

#include "ingest_test_util.hpp"

using namespace herald::ingest;
using herald::ingest::test::expect_api_error;
using herald::ingest::test::json;
using herald::ingest::test::received;

namespace {

IngestRequest parse(Endpoint endpoint, std::string_view body) {
  PayloadParser parser;
  return parser.parse(endpoint, body, received());
}

ApiError parse_error(Endpoint endpoint, std::string_view body) {
  return expect_api_error([&] { parse(endpoint, body); });
}

Event track(std::string_view body) {
  auto request = parse(Endpoint::kTrack, body);
  REQUIRE(request.events.size() == 1);
  return request.events.front();
}

}  // namespace

TEST_CASE("a minimal track call gets the defaults", "[ingest][parser]") {
  const Event event = track(R"({"userId":"u1","event":"cart.updated"})");
  CHECK(event.type == EventType::kTrack);
  CHECK(event.user_id == "u1");
  CHECK(event.event == "cart.updated");
  CHECK(event.properties == "{}");
  CHECK(event.traits == "{}");
  CHECK(event.context == "{}");
  CHECK(event.integrations == "{}");
  CHECK(event.message_id.empty());
  CHECK(event.timestamp == received());
  CHECK(event.received_at == received());
  CHECK_FALSE(event.sent_at);
  CHECK_FALSE(event.original_timestamp);
}

TEST_CASE("every accepted field of a track call is kept", "[ingest][parser]") {
  const Event event = track(R"({
    "userId": "u1", "anonymousId": "anon-7", "event": "order.completed",
    "properties": {"total": 19.5, "items": [{"sku": "A", "qty": 2}], "note": "caf\u00e9 \"x\""},
    "timestamp": "2024-02-29T23:30:00.125+02:00", "messageId": "m-1",
    "sentAt": "2024-03-01T10:00:00Z", "originalTimestamp": "2024-02-29T21:29:59-00:30",
    "context": {"ip": "203.0.113.9", "library": {"name": "x"}}, "integrations": {"All": true},
    "unknownTopLevel": {"ignored": 1}
  })");
  CHECK(event.anonymous_id == "anon-7");
  CHECK(json(event.properties) ==
        json(R"({"total": 19.5, "items": [{"sku": "A", "qty": 2}], "note": "café \"x\""})"));
  CHECK(format_rfc3339(event.timestamp) == "2024-02-29T21:30:00.125Z");
  CHECK(event.message_id == "m-1");
  CHECK(format_rfc3339(*event.sent_at) == "2024-03-01T10:00:00.000Z");
  CHECK(format_rfc3339(*event.original_timestamp) == "2024-02-29T21:59:59.000Z");
  CHECK(json(event.context) == json(R"({"ip": "203.0.113.9", "library": {"name": "x"}})"));
  CHECK(json(event.integrations) == json(R"({"All": true})"));
}

TEST_CASE("a numeric userId is kept in its string form", "[ingest][parser]") {
  CHECK(track(R"({"userId":12345,"event":"e"})").user_id == "12345");
  CHECK(track(R"({"userId":-7,"event":"e"})").user_id == "-7");
  CHECK(track(R"({"userId":18446744073709551615,"event":"e"})").user_id == "18446744073709551615");
  CHECK(track(R"({"userId":1e3,"event":"e"})").user_id == "1000");
  CHECK(track(R"({"userId":1.5,"event":"e"})").user_id == "1.5");
  CHECK(track(R"({"userId":"x","anonymousId":42,"event":"e"})").anonymous_id == "42");
}

TEST_CASE("userId is required", "[ingest][parser]") {
  for (const char* body : {R"({"event":"e"})", R"({"userId":null,"event":"e"})",
                           R"({"userId":"","event":"e"})", R"({"anonymousId":"a","event":"e"})"}) {
    INFO(body);
    const ApiError error = parse_error(Endpoint::kTrack, body);
    CHECK(error.status == 400);
    CHECK(error.code == "missing_user_id");
    CHECK(error.field == "userId");
    CHECK(error.details.empty());
  }
  const ApiError anonymous = parse_error(Endpoint::kIdentify, R"({"anonymousId":"a","traits":{}})");
  CHECK(anonymous.code == "missing_user_id");
  CHECK_THAT(anonymous.message, Catch::Contains("anonymousId"));
}

TEST_CASE("userId of a wrong type names the field", "[ingest][parser]") {
  for (const char* value : {"true", "{}", "[\"u\"]"}) {
    const std::string body = std::string(R"({"event":"e","userId":)") + value + "}";
    const ApiError error = parse_error(Endpoint::kTrack, body);
    CHECK(error.code == "invalid_event");
    CHECK(error.field == "userId");
  }
}

TEST_CASE("event is required for track, not for identify", "[ingest][parser]") {
  const ApiError missing = parse_error(Endpoint::kTrack, R"({"userId":"u"})");
  CHECK(missing.code == "invalid_event");
  CHECK(missing.field == "event");
  CHECK(missing.message == "event: required for type \"track\"");
  CHECK(parse_error(Endpoint::kTrack, R"({"userId":"u","event":""})").field == "event");
  CHECK(parse_error(Endpoint::kTrack, R"({"userId":"u","event":7})").field == "event");
  CHECK(parse(Endpoint::kIdentify, R"({"userId":"u"})").events.size() == 1);
}

TEST_CASE("several problems of one event are all listed", "[ingest][parser]") {
  const ApiError error =
      parse_error(Endpoint::kTrack, R"({"event":5,"properties":[],"timestamp":"yesterday"})");
  CHECK(error.status == 400);
  REQUIRE(error.details.size() == 4);
  CHECK(error.details[0].field == "event");
  CHECK(error.details[1].field == "properties");
  CHECK(error.details[2].field == "timestamp");
  CHECK(error.details[3].field == "userId");
  CHECK(error.details[3].code == "missing_user_id");
}

TEST_CASE("objects are checked as objects", "[ingest][parser]") {
  for (const char* key : {"properties", "context", "integrations"}) {
    for (const char* value : {"[]", "\"text\"", "3", "true"}) {
      const std::string body =
          std::string(R"({"userId":"u","event":"e",")") + key + "\":" + value + "}";
      INFO(body);
      const ApiError error = parse_error(Endpoint::kTrack, body);
      CHECK(error.code == "invalid_event");
      CHECK(error.field == key);
    }
  }
  const ApiError traits = parse_error(Endpoint::kIdentify, R"({"userId":"u","traits":"x"})");
  CHECK(traits.field == "traits");
  const ApiError context_traits =
      parse_error(Endpoint::kTrack, R"({"userId":"u","event":"e","context":{"traits":[1]}})");
  CHECK(context_traits.field == "context.traits");
  // null is as good as absent
  CHECK(track(R"({"userId":"u","event":"e","properties":null,"context":null})").properties == "{}");
}

TEST_CASE("times must be RFC 3339", "[ingest][parser]") {
  for (const char* key : {"timestamp", "sentAt", "originalTimestamp"}) {
    for (const char* value :
         {"\"2024-03-01\"", "\"2024-03-01T10:00:00\"", "1709290000", "\"2024-02-30T00:00:00Z\""}) {
      const std::string body =
          std::string(R"({"userId":"u","event":"e",")") + key + "\":" + value + "}";
      INFO(body);
      const ApiError error = parse_error(Endpoint::kTrack, body);
      CHECK(error.code == "invalid_event");
      CHECK(error.field == key);
    }
  }
}

TEST_CASE("messageId must be a string", "[ingest][parser]") {
  CHECK(parse_error(Endpoint::kTrack, R"({"userId":"u","event":"e","messageId":12})").field ==
        "messageId");
}

TEST_CASE("writeKey in the body is returned", "[ingest][parser]") {
  const auto request = parse(Endpoint::kTrack, R"({"writeKey":"wk_1","userId":"u","event":"e"})");
  CHECK(request.write_key == "wk_1");
  CHECK(parse(Endpoint::kTrack, R"({"userId":"u","event":"e"})").write_key.empty());
  CHECK(parse_error(Endpoint::kTrack, R"({"writeKey":1,"userId":"u","event":"e"})").field ==
        "writeKey");

  PayloadParser parser;
  CHECK(parser.find_write_key(R"({"batch":[1,2],"writeKey":"wk_2"})") == "wk_2");
  CHECK_FALSE(parser.find_write_key(R"({"batch":[)"));
  CHECK_FALSE(parser.find_write_key(R"({"writeKey":5})"));
  CHECK_FALSE(parser.find_write_key(R"([])"));
}

TEST_CASE("context.traits on a track call are normalised traits to merge", "[ingest][parser]") {
  const Event event = track(R"({"userId":"u","event":"e",
    "context":{"traits":{"email":"Ann@Example.COM","plan":"gold","phone":"(415) 555-2671"}}})");
  CHECK(json(event.traits) ==
        json(R"({"email":"Ann@example.com","plan":"gold","phone":"+14155552671"})"));
  // The context is kept as sent.
  CHECK(json(event.context)["traits"]["email"] == "Ann@Example.COM");

  const ApiError error = parse_error(
      Endpoint::kTrack, R"({"userId":"u","event":"e","context":{"traits":{"email":"nope"}}})");
  CHECK(error.code == "invalid_trait");
  CHECK(error.field == "context.traits.email");
}

TEST_CASE("identify normalises known traits and keeps the others", "[ingest][parser]") {
  const auto request = parse(Endpoint::kIdentify, R"({"userId":"u","traits":{
    "email":" Bob@MAIL.Example.org ","phone":"+44 20 7946 0958","whatsapp":"(415) 555-2671",
    "timezone":"europe/paris","locale":"fr_ca","birthday":"--02-29","first_name":"Bob",
    "score":4.5,"tags":["a","b"],"nested":{"x":null},"email_verified":true,"Email":"kept as is"}})");
  REQUIRE(request.events.size() == 1);
  const Event& event = request.events.front();
  CHECK(event.type == EventType::kIdentify);
  CHECK(event.event.empty());
  CHECK(event.properties.empty());
  CHECK(json(event.traits) == json(R"({
    "email":"Bob@mail.example.org","phone":"+442079460958","whatsapp":"+14155552671",
    "timezone":"Europe/Paris","locale":"fr-CA","birthday":"--02-29","first_name":"Bob",
    "score":4.5,"tags":["a","b"],"nested":{"x":null},"email_verified":true,"Email":"kept as is"})"));
}

TEST_CASE("national numbers are read with the configured region", "[ingest][parser]") {
  IngestOptions options;
  options.traits.default_region = "FR";
  PayloadParser parser(options);
  const auto request = parser.parse(
      Endpoint::kIdentify, R"({"userId":"u","traits":{"whatsapp":"06 12 34 56 78"}})", received());
  CHECK(json(request.events.at(0).traits)["whatsapp"] == "+33612345678");
  PayloadParser us_parser;
  const ApiError error = expect_api_error([&] {
    us_parser.parse(Endpoint::kIdentify, R"({"userId":"u","traits":{"whatsapp":"06 12 34 56 78"}})",
                    received());
  });
  CHECK(error.field == "traits.whatsapp");
}

TEST_CASE("identify traits win over context.traits", "[ingest][parser]") {
  const auto request = parse(Endpoint::kIdentify, R"({"userId":"u",
    "traits":{"plan":"gold"},"context":{"traits":{"plan":"silver","city":"Lyon"}}})");
  CHECK(json(request.events.at(0).traits) == json(R"({"plan":"gold","city":"Lyon"})"));
}

TEST_CASE("null or empty known traits clear them", "[ingest][parser]") {
  const auto request =
      parse(Endpoint::kIdentify, R"({"userId":"u","traits":{"email":null,"phone":"  "}})");
  CHECK(json(request.events.at(0).traits) == json(R"({"email":null,"phone":null})"));
}

TEST_CASE("every invalid trait is named", "[ingest][parser]") {
  const ApiError error = parse_error(Endpoint::kIdentify, R"({"userId":"u","traits":{
    "email":"a@b","phone":"12","timezone":"Mars/Base","locale":"english!"}})");
  CHECK(error.status == 400);
  CHECK(error.code == "invalid_trait");
  CHECK(error.field == "traits.email");
  REQUIRE(error.details.size() == 4);
  CHECK(error.details[1].field == "traits.phone");
  CHECK(error.details[2].field == "traits.timezone");
  CHECK(error.details[3].field == "traits.locale");
  CHECK(error.details[3].code == "invalid_trait");

  CHECK(parse_error(Endpoint::kIdentify, R"({"userId":"u","traits":{"birthday":"1990-02-29"}})")
            .field == "traits.birthday");
  CHECK(parse_error(Endpoint::kIdentify, R"({"userId":"u","traits":{"email":42}})").field ==
        "traits.email");
}

TEST_CASE("a batch is parsed in order", "[ingest][parser][batch]") {
  const auto request = parse(Endpoint::kBatch, R"({"batch":[
    {"type":"identify","userId":"u1","traits":{"email":"a@Example.com"}},
    {"type":"track","userId":"u1","event":"cart.updated","properties":{"n":1}},
    {"type":"page","userId":"u1","name":"Home"},
    {"type":"track","userId":2,"event":"order.completed","messageId":"m2"}
  ]})");
  REQUIRE(request.events.size() == 3);
  CHECK(request.ignored == 1);
  CHECK(request.events[0].type == EventType::kIdentify);
  CHECK(json(request.events[0].traits)["email"] == "a@example.com");
  CHECK(request.events[1].event == "cart.updated");
  CHECK(request.events[1].properties == R"({"n":1})");
  CHECK(request.events[2].user_id == "2");
  CHECK(request.events[2].message_id == "m2");
}

TEST_CASE("a batch is validated whole: every bad item is listed", "[ingest][parser][batch]") {
  const ApiError error = parse_error(Endpoint::kBatch, R"({"batch":[
    {"type":"track","userId":"u","event":"ok"},
    {"type":"track","anonymousId":"a","event":"e"},
    {"type":"identify","userId":"u","traits":{"phone":"not a phone"}},
    {"type":"track","userId":"u"},
    "text",
    {"userId":"u","event":"e"},
    {"type":"checkout","userId":"u"},
    {"type":"track","userId":"u","event":"e","properties":{"a":"\u0000"}}
  ]})");
  CHECK(error.status == 400);
  CHECK(error.code == "missing_user_id");
  CHECK(error.field == "batch[1].userId");
  REQUIRE(error.details.size() == 7);
  CHECK(error.details[0].field == "batch[1].userId");
  CHECK(error.details[1].field == "batch[2].traits.phone");
  CHECK(error.details[1].code == "invalid_trait");
  CHECK(error.details[2].field == "batch[3].event");
  CHECK(error.details[2].message == "batch[3].event: required for type \"track\"");
  CHECK(error.details[3].field == "batch[4]");
  CHECK(error.details[4].field == "batch[5].type");
  CHECK(error.details[5].field == "batch[6].type");
  CHECK(error.details[6].field == "batch[7].properties.a");
  CHECK(error.details[6].code == "invalid_json");
  const auto body = error.to_json();
  CHECK(body["error"]["details"].size() == 7);
  CHECK(body["error"]["field"] == "batch[1].userId");
}

TEST_CASE("one bad item in a batch still has details", "[ingest][parser][batch]") {
  const ApiError error =
      parse_error(Endpoint::kBatch, R"({"batch":[{"type":"track","userId":"u","event":3}]})");
  CHECK(error.code == "invalid_event");
  CHECK(error.field == "batch[0].event");
  CHECK(error.details.size() == 1);
}

TEST_CASE("the batch member itself is checked", "[ingest][parser][batch]") {
  CHECK(parse_error(Endpoint::kBatch, R"({})").field == "batch");
  CHECK(parse_error(Endpoint::kBatch, R"({"batch":{}})").field == "batch");
  CHECK(parse_error(Endpoint::kBatch, R"({"batch":null})").field == "batch");
  CHECK(parse(Endpoint::kBatch, R"({"batch":[]})").events.empty());
}

TEST_CASE("a batch holds at most 2,500 events", "[ingest][parser][batch]") {
  const auto batch_of = [](std::size_t n) {
    std::string body = R"({"batch":[)";
    for (std::size_t i = 0; i < n; ++i) {
      if (i) body += ',';
      body += R"({"type":"track","userId":"u)" + std::to_string(i) + R"(","event":"e"})";
    }
    return body + "]}";
  };
  CHECK(parse(Endpoint::kBatch, batch_of(2500)).events.size() == 2500);
  const ApiError error = parse_error(Endpoint::kBatch, batch_of(2501));
  CHECK(error.status == 400);
  CHECK(error.code == "batch_too_large");
  CHECK(error.field == "batch");
}

TEST_CASE("context, integrations and sentAt of a batch apply to its events",
          "[ingest][parser][batch]") {
  const auto request = parse(Endpoint::kBatch, R"({
    "context":{"library":{"name":"lib"},"ip":"198.51.100.1"},"integrations":{"All":false},
    "sentAt":"2024-03-01T11:59:59Z",
    "batch":[
      {"type":"track","userId":"u","event":"a"},
      {"type":"track","userId":"u","event":"b","context":{"ip":"203.0.113.1","page":{"path":"/"}},
       "sentAt":"2024-03-01T11:00:00Z","integrations":{}}
    ]})");
  REQUIRE(request.events.size() == 2);
  CHECK(json(request.events[0].context) ==
        json(R"({"library":{"name":"lib"},"ip":"198.51.100.1"})"));
  CHECK(json(request.events[0].integrations) == json(R"({"All":false})"));
  CHECK(format_rfc3339(*request.events[0].sent_at) == "2024-03-01T11:59:59.000Z");
  CHECK(json(request.events[1].context) ==
        json(R"({"ip":"203.0.113.1","page":{"path":"/"},"library":{"name":"lib"}})"));
  CHECK(json(request.events[1].integrations) == json(R"({"All":false})"));
  CHECK(format_rfc3339(*request.events[1].sent_at) == "2024-03-01T11:00:00.000Z");

  CHECK(parse_error(Endpoint::kBatch, R"({"context":[],"batch":[]})").field == "context");
  CHECK(parse_error(Endpoint::kBatch, R"({"sentAt":"x","batch":[]})").field == "sentAt");
}

TEST_CASE("events are limited to 32 KiB, alone or in a batch", "[ingest][parser]") {
  // Builds a track body of exactly `size` bytes, minified.
  const auto event_of = [](std::size_t size) {
    const std::string head = R"({"userId":"u","event":"e","properties":{"p":")";
    const std::string tail = R"("}})";
    return head + std::string(size - head.size() - tail.size(), 'x') + tail;
  };
  CHECK(event_of(32768).size() == 32768);
  CHECK(parse(Endpoint::kTrack, event_of(32768)).events.size() == 1);
  const ApiError alone = parse_error(Endpoint::kTrack, event_of(32769));
  CHECK(alone.status == 400);
  CHECK(alone.code == "event_too_large");

  // White space does not count: the minified size does.
  std::string padded = event_of(32768);
  padded.insert(1, 1000, ' ');
  CHECK(parse(Endpoint::kTrack, padded).events.size() == 1);

  const std::string item = R"({"type":"track",)" + event_of(32769 - 15).substr(1);
  REQUIRE(item.size() == 32769);
  const ApiError in_batch = parse_error(
      Endpoint::kBatch, R"({"batch":[{"type":"track","userId":"u","event":"e"},)" + item + "]}");
  CHECK(in_batch.code == "event_too_large");
  CHECK(in_batch.field == "batch[1]");
}

TEST_CASE("non-object bodies are invalid JSON", "[ingest][parser]") {
  for (const char* body :
       {"[]", "[{\"userId\":\"u\",\"event\":\"e\"}]", "\"u\"", "42", "null", "true"}) {
    INFO(body);
    const ApiError error = parse_error(Endpoint::kTrack, body);
    CHECK(error.status == 400);
    CHECK(error.code == "invalid_json");
  }
}

TEST_CASE("the error body has the contract's shape", "[ingest][parser]") {
  const ApiError error = parse_error(Endpoint::kTrack, R"({"userId":"u"})");
  CHECK(error.to_json() == json(R"({"error":{"code":"invalid_event",
    "message":"event: required for type \"track\"","field":"event"}})"));
}

TEST_CASE("events round-trip through stream fields", "[ingest][parser]") {
  const Event event = track(R"({"userId":"u","anonymousId":"a","event":"e","messageId":"m",
    "properties":{"x":1},"sentAt":"2024-03-01T11:00:00Z","context":{"traits":{"plan":"p"}}})");
  const StreamFields fields = to_stream_fields(event);
  REQUIRE(fields.size() == 1);  // one packed field
  CHECK(fields[0].first == "e");
  CHECK(fields[0].second.rfind("15:track1:u1:e", 0) == 0);
  const auto back = from_stream_fields(fields);
  REQUIRE(back);
  CHECK(*back == event);
  CHECK(back->sent_at);
  CHECK_FALSE(back->original_timestamp);

  auto identify = parse(Endpoint::kIdentify, R"({"userId":"u","traits":{"a":1}})").events.at(0);
  const auto identify_back = from_stream_fields(to_stream_fields(identify));
  REQUIRE(identify_back);
  CHECK(*identify_back == identify);
  CHECK_FALSE(from_stream_fields({{"type", "page"}, {"user_id", "u"}}));

  // Damaged packed entries are refused, never read past their end.
  const auto& good = fields[0].second;
  for (std::size_t cut = 0; cut < good.size(); ++cut) {
    INFO(cut);
    CHECK_FALSE(from_stream_fields({{"e", good.substr(0, cut)}}));
  }
  CHECK_FALSE(from_stream_fields({{"e", good + "0:"}}));
  CHECK_FALSE(from_stream_fields({{"e", "2" + good.substr(1)}}));
  CHECK_FALSE(from_stream_fields({{"e", "199:track"}}));
}

TEST_CASE("stream entries of the field-per-member layout are still read", "[ingest][parser]") {
  // As earlier versions appended them, which a stream may still hold after an upgrade.
  const auto event = from_stream_fields(
      {{"type", "track"}, {"user_id", "u"}, {"event", "e"}, {"properties", R"({"x":1})"},
       {"traits", "{}"}, {"context", "{}"}, {"integrations", "{}"},
       {"timestamp", "2024-03-01T11:00:00.000Z"}, {"received_at", "2024-03-01T11:00:01.000Z"},
       {"message_id", "m"}});
  REQUIRE(event);
  CHECK(event->user_id == "u");
  CHECK(event->event == "e");
  CHECK(event->properties == R"({"x":1})");
  CHECK(event->message_id == "m");
  CHECK(format_rfc3339(event->received_at) == "2024-03-01T11:00:01.000Z");
  // Re-packed, it reads back the same.
  CHECK(from_stream_fields(to_stream_fields(*event)) == event);
}

TEST_CASE("one parser serves many requests", "[ingest][parser]") {
  PayloadParser parser;
  for (int i = 0; i < 3; ++i) {
    CHECK_THROWS_AS(parser.parse(Endpoint::kTrack, R"({"userId":1})", received()), ApiError);
    const auto request = parser.parse(Endpoint::kTrack, R"({"userId":1,"event":"e"})", received());
    CHECK(request.events.at(0).user_id == "1");
  }
}
