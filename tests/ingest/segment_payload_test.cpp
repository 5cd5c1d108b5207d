// Bodies as Segment's own libraries send them.
#include <catch2/catch.hpp>

#include "gateway/ingest/payload_parser.hpp"
#include "ingest_test_util.hpp"

using namespace herald::ingest;
using herald::ingest::test::json;
using herald::ingest::test::received;

TEST_CASE("analytics-python batch", "[ingest][segment]") {
  // analytics-python 2.x: datetime.isoformat() times, null anonymousId, library in context, the
  // batch's sentAt at the top.
  const std::string body =
      R"({"batch": [{"integrations": {}, "anonymousId": null, "properties": {"plan": "Enterprise", "seats": 12}, "event": "Signed Up", "context": {"library": {"name": "analytics-python", "version": "2.2.3"}}, "timestamp": "2024-02-29T18:04:05.123456+00:00", "userId": "019mr8mf4r", "type": "track", "messageId": "0b4a3b1e-5d39-4b38-9a7e-5b7b8c6f1f4e"}, {"integrations": {}, "anonymousId": null, "traits": {"email": "Peter@Example.com", "name": "Peter Gibbons", "birthday": "1985-07-14", "phone": "+1 (415) 555-2671"}, "context": {"library": {"name": "analytics-python", "version": "2.2.3"}}, "timestamp": "2024-02-29T18:04:05.200001-08:00", "userId": "019mr8mf4r", "type": "identify", "messageId": "8d3b6c1a-0d4b-4b7e-8f7e-2f4a8e2d1c3b"}], "sentAt": "2024-02-29T18:04:06.500000+00:00"})";
  PayloadParser parser;
  const auto request = parser.parse(Endpoint::kBatch, body, received());
  REQUIRE(request.events.size() == 2);
  const Event& track = request.events[0];
  CHECK(track.event == "Signed Up");
  CHECK(track.user_id == "019mr8mf4r");
  CHECK(track.anonymous_id.empty());
  CHECK(format_rfc3339(track.timestamp) == "2024-02-29T18:04:05.123Z");
  CHECK(format_rfc3339(*track.sent_at) == "2024-02-29T18:04:06.500Z");
  CHECK(track.message_id == "0b4a3b1e-5d39-4b38-9a7e-5b7b8c6f1f4e");
  CHECK(json(track.properties) == json(R"({"plan": "Enterprise", "seats": 12})"));
  CHECK(json(track.context)["library"]["name"] == "analytics-python");
  const Event& identify = request.events[1];
  CHECK(identify.type == EventType::kIdentify);
  CHECK(format_rfc3339(identify.timestamp) == "2024-03-01T02:04:05.200Z");
  CHECK(json(identify.traits) == json(R"({"email": "Peter@example.com", "name": "Peter Gibbons",
    "birthday": "1985-07-14", "phone": "+14155552671"})"));
}

TEST_CASE("analytics-node batch", "[ingest][segment]") {
  // @segment/analytics-node: _metadata, integrations, messageId "node-next-…", ISO times in Z.
  const std::string body =
      R"({"batch":[{"userId":"user-42","event":"Order Completed","properties":{"order_id":"50314b8e9bcf000000000000","total":27.5,"revenue":25,"currency":"USD","products":[{"product_id":"507f1f77bcf86cd799439011","sku":"45790-32","price":19,"quantity":1}]},"type":"track","context":{"library":{"name":"@segment/analytics-node","version":"1.1.4"}},"integrations":{},"timestamp":"2024-02-29T23:59:59.999Z","messageId":"node-next-1709251199999-6e5a1c1b-3b5a-4b1f-9c35-2d4f3e1b8a9c","_metadata":{"nodeVersion":"18.19.0","jsRuntime":"node"}},{"userId":"user-42","traits":{"name":"Ada","email":"ada@EXAMPLE.org","timezone":"America/New_York","locale":"en-US"},"type":"identify","context":{"library":{"name":"@segment/analytics-node","version":"1.1.4"}},"integrations":{},"timestamp":"2024-03-01T00:00:00.001Z","messageId":"node-next-1709251200001-0c3a","_metadata":{"nodeVersion":"18.19.0","jsRuntime":"node"}}],"sentAt":"2024-03-01T00:00:00.500Z"})";
  PayloadParser parser;
  const auto request = parser.parse(Endpoint::kBatch, body, received());
  REQUIRE(request.events.size() == 2);
  CHECK(request.events[0].event == "Order Completed");
  CHECK(json(request.events[0].properties)["products"][0]["sku"] == "45790-32");
  CHECK(request.events[0].properties.find("_metadata") == std::string::npos);
  CHECK(json(request.events[1].traits) == json(R"({"name":"Ada","email":"ada@example.org",
    "timezone":"America/New_York","locale":"en-US"})"));
  CHECK(format_rfc3339(*request.events[1].sent_at) == "2024-03-01T00:00:00.500Z");
}

TEST_CASE("analytics.js single calls with writeKey in the body", "[ingest][segment]") {
  // The browser library posts text/plain bodies carrying writeKey, with page context and traits.
  const std::string track =
      R"({"timestamp":"2024-02-29T12:00:00.000Z","integrations":{"Segment.io":true},"userId":"u-9","anonymousId":"5f3c8a7e-2b1d-4c8e-9f7a-1d2e3c4b5a69","type":"track","event":"Product Viewed","properties":{"product_id":"p1","price":9.99},"context":{"page":{"path":"/p1","referrer":"","search":"","title":"P1","url":"https://shop.example/p1"},"userAgent":"Mozilla/5.0","locale":"fr-FR","library":{"name":"analytics.js","version":"next-1.64.0"},"traits":{"email":"u9@Shop.Example"}},"messageId":"ajs-next-2d5f1d8b7c","writeKey":"wk_browser","sentAt":"2024-02-29T12:00:00.050Z","_metadata":{"bundled":["Segment.io"],"unbundled":[],"bundledIds":[]}})";
  PayloadParser parser;
  const auto request = parser.parse(Endpoint::kTrack, track, received());
  CHECK(request.write_key == "wk_browser");
  REQUIRE(request.events.size() == 1);
  const Event& event = request.events[0];
  CHECK(event.anonymous_id == "5f3c8a7e-2b1d-4c8e-9f7a-1d2e3c4b5a69");
  CHECK(json(event.traits) == json(R"({"email":"u9@shop.example"})"));
  CHECK(json(event.integrations) == json(R"({"Segment.io":true})"));
  CHECK(json(event.context)["page"]["path"] == "/p1");

  const std::string identify =
      R"({"timestamp":"2024-02-29T12:00:01.000Z","integrations":{},"userId":"u-9","anonymousId":"5f3c8a7e","type":"identify","traits":{"email":"u9@shop.example","first_name":"Noor","created_at":"2023-01-01T00:00:00Z"},"context":{"locale":"fr-FR"},"messageId":"ajs-next-9","writeKey":"wk_browser","sentAt":"2024-02-29T12:00:01.020Z","originalTimestamp":"2024-02-29T12:00:00.990Z"})";
  const auto identified = parser.parse(Endpoint::kIdentify, identify, received());
  CHECK(json(identified.events.at(0).traits)["first_name"] == "Noor");
  CHECK(format_rfc3339(*identified.events.at(0).original_timestamp) == "2024-02-29T12:00:00.990Z");
}

TEST_CASE("a batch of mixed Segment calls keeps track and identify", "[ingest][segment]") {
  const std::string body = R"({"batch":[
    {"type":"page","userId":"u","name":"Home","properties":{"path":"/"}},
    {"type":"screen","userId":"u","name":"Cart"},
    {"type":"group","userId":"u","groupId":"g1","traits":{"name":"Acme"}},
    {"type":"alias","userId":"u","previousId":"anon-1"},
    {"type":"track","userId":"u","event":"cart.updated"}]})";
  PayloadParser parser;
  const auto request = parser.parse(Endpoint::kBatch, body, received());
  CHECK(request.ignored == 4);
  REQUIRE(request.events.size() == 1);
  CHECK(request.events[0].event == "cart.updated");
}
