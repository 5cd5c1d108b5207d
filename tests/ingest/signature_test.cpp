#include "gateway/ingest/signature.hpp"

#include <catch2/catch.hpp>

#include "ingest_test_util.hpp"

using namespace herald::ingest;
using herald::ingest::test::expect_api_error;
using Clock = std::chrono::system_clock;

namespace {

// The vectors below were computed outside Herald, with OpenSSL's command line:
//   printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64   (shopify)
//   printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$SECRET" -hex               (hex)
//   printf '%s' "1700000000.$BODY" | openssl dgst -sha256 -hmac "$SECRET" -hex    (stripe)
const std::string kBody =
    R"({"id":820982911946154508,"email":"jon@example.com","total_price":"199.00"})";
const std::string kShopifySecret = "shpss_0123456789abcdef";
const std::string kShopifySignature = "nrHClCK3KxlVunNHdltMihysztIU1hg31wBbxhWmPwc=";
const std::string kHexSecret = "listening-secret";
const std::string kHexSignature =
    "bd674a4e0fa72693bfbe3e353b7900efa6616d38d5827333571d10afdc08c404";
const std::string kStripeSecret = "whsec_crm_secret";
const std::string kStripeSignature =
    "ad40a19dd5d7013748a34b028712d6249ca0ffe56c9cd320519c403c545630cb";
const std::string kOldStripeSecret = "whsec_old_secret";
const std::string kOldStripeSignature =
    "661b8c7804eaed7967ebe470dd82935916eb90f1f480f5d89d1b713f23b55331";
const Clock::time_point kSignedAt = Clock::time_point(std::chrono::seconds(1700000000));

SignatureConfig config(SignatureScheme scheme, std::vector<std::string> secrets,
                       std::string header = {}) {
  SignatureConfig c;
  c.scheme = scheme;
  c.secrets = std::move(secrets);
  c.header = header.empty() ? std::string(default_signature_header(scheme)) : header;
  return c;
}

nlohmann::ordered_json headers(const std::string& name, const std::string& value) {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  h[name] = value;
  return h;
}

std::string verify_code(const SignatureConfig& c, const nlohmann::ordered_json& h,
                        std::string_view body, Clock::time_point now) {
  try {
    verify_signature(c, h, body, now);
    return "ok";
  } catch (const ApiError& error) {
    CHECK(error.status == 401);
    return error.code;
  }
}

}  // namespace

TEST_CASE("HMAC-SHA256 matches RFC 4231", "[ingest][signature]") {
  CHECK(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(to_base64("") == "");
  CHECK(to_base64("f") == "Zg==");
  CHECK(to_base64("foobar") == "Zm9vYmFy");
  CHECK(constant_time_equal("abc", "abc"));
  CHECK_FALSE(constant_time_equal("abc", "abd"));
  CHECK_FALSE(constant_time_equal("abc", "abcd"));
}

TEST_CASE("shopify: base64 HMAC of the raw body", "[ingest][signature]") {
  const auto c = config(SignatureScheme::kShopify, {kShopifySecret});
  CHECK(c.header == "x-shopify-hmac-sha256");
  CHECK(verify_code(c, headers("x-shopify-hmac-sha256", kShopifySignature), kBody, kSignedAt) ==
        "ok");
  // Shopify signs the raw bytes: re-serialised JSON does not match.
  CHECK(verify_code(c, headers("x-shopify-hmac-sha256", kShopifySignature), kBody + " ",
                    kSignedAt) == "bad_signature");
  CHECK(verify_code(c, headers("x-shopify-hmac-sha256", to_hex(hmac_sha256(kShopifySecret, kBody))),
                    kBody, kSignedAt) == "bad_signature");  // hex is not base64
  CHECK(verify_code(c, headers("x-other", kShopifySignature), kBody, kSignedAt) == "bad_signature");
  CHECK(verify_code(config(SignatureScheme::kShopify, {"wrong"}),
                    headers("x-shopify-hmac-sha256", kShopifySignature), kBody,
                    kSignedAt) == "bad_signature");
  // Timing does not matter for this scheme.
  CHECK(verify_code(c, headers("x-shopify-hmac-sha256", kShopifySignature), kBody,
                    kSignedAt + std::chrono::hours(24 * 365)) == "ok");
}

TEST_CASE("hmac-sha256-hex: hex HMAC of the raw body in the configured header",
          "[ingest][signature]") {
  const auto c = config(SignatureScheme::kHmacSha256Hex, {kHexSecret}, "x-herald-signature");
  CHECK(verify_code(c, headers("x-herald-signature", kHexSignature), kBody, kSignedAt) == "ok");
  CHECK(verify_code(c, headers("x-herald-signature", "sha256=" + kHexSignature), kBody,
                    kSignedAt) == "ok");
  std::string upper = kHexSignature;
  for (char& ch : upper) ch = char(std::toupper(ch));
  CHECK(verify_code(c, headers("x-herald-signature", upper), kBody, kSignedAt) == "ok");
  std::string flipped = kHexSignature;
  flipped[10] = flipped[10] == '0' ? '1' : '0';
  CHECK(verify_code(c, headers("x-herald-signature", flipped), kBody, kSignedAt) ==
        "bad_signature");
  CHECK(verify_code(c, headers("x-herald-signature", kHexSignature.substr(2)), kBody, kSignedAt) ==
        "bad_signature");
  CHECK(verify_code(c, headers("x-herald-signature", "zz" + kHexSignature.substr(2)), kBody,
                    kSignedAt) == "bad_signature");
  CHECK(verify_code(c, headers("x-herald-signature", ""), kBody, kSignedAt) == "bad_signature");
  CHECK(verify_code(c, nlohmann::ordered_json::object(), kBody, kSignedAt) == "bad_signature");
}

TEST_CASE("hmac-sha256: Stripe's t=,v1= layout", "[ingest][signature]") {
  auto c = config(SignatureScheme::kStripe, {kStripeSecret}, "x-signature");
  const std::string value = "t=1700000000,v1=" + kStripeSignature;
  CHECK(verify_code(c, headers("x-signature", value), kBody, kSignedAt) == "ok");
  // Stripe's header also carries v0 (test-mode) signatures, and spaces are tolerated.
  CHECK(verify_code(c, headers("x-signature", "t=1700000000, v0=abcdef, v1=" + kStripeSignature),
                    kBody, kSignedAt) == "ok");
  // The signed string includes the timestamp: another t breaks the signature.
  CHECK(verify_code(c, headers("x-signature", "t=1700000001,v1=" + kStripeSignature), kBody,
                    kSignedAt) == "bad_signature");
  CHECK(verify_code(c, headers("x-signature", "v1=" + kStripeSignature), kBody, kSignedAt) ==
        "bad_signature");
  CHECK(verify_code(c, headers("x-signature", "t=1700000000"), kBody, kSignedAt) ==
        "bad_signature");
  CHECK(verify_code(c, headers("x-signature", "t=soon,v1=" + kStripeSignature), kBody, kSignedAt) ==
        "bad_signature");
  CHECK(verify_code(c, headers("x-signature", kStripeSignature), kBody, kSignedAt) ==
        "bad_signature");
}

TEST_CASE("hmac-sha256: several v1 signatures and several secrets (rotation)",
          "[ingest][signature]") {
  // The sender signs with its old and new secrets while it rotates.
  const std::string both = "t=1700000000,v1=" + kOldStripeSignature + ",v1=" + kStripeSignature;
  CHECK(verify_code(config(SignatureScheme::kStripe, {kStripeSecret}, "x-signature"),
                    headers("x-signature", both), kBody, kSignedAt) == "ok");
  CHECK(verify_code(config(SignatureScheme::kStripe, {kOldStripeSecret}, "x-signature"),
                    headers("x-signature", both), kBody, kSignedAt) == "ok");
  // Herald may hold two secrets while it rotates its own.
  const auto rotating =
      config(SignatureScheme::kStripe, {kStripeSecret, kOldStripeSecret}, "x-signature");
  CHECK(verify_code(rotating, headers("x-signature", "t=1700000000,v1=" + kOldStripeSignature),
                    kBody, kSignedAt) == "ok");
  CHECK(verify_code(config(SignatureScheme::kStripe, {"third"}, "x-signature"),
                    headers("x-signature", both), kBody, kSignedAt) == "bad_signature");
}

TEST_CASE("hmac-sha256: outside the tolerance is stale", "[ingest][signature]") {
  auto c = config(SignatureScheme::kStripe, {kStripeSecret}, "x-signature");
  const auto h = headers("x-signature", "t=1700000000,v1=" + kStripeSignature);
  using std::chrono::seconds;
  CHECK(verify_code(c, h, kBody, kSignedAt + seconds(300)) == "ok");
  CHECK(verify_code(c, h, kBody, kSignedAt - seconds(300)) == "ok");
  CHECK(verify_code(c, h, kBody, kSignedAt + seconds(301)) == "stale_signature");
  CHECK(verify_code(c, h, kBody, kSignedAt - seconds(301)) == "stale_signature");
  c.tolerance = seconds(3600);
  CHECK(verify_code(c, h, kBody, kSignedAt + seconds(3600)) == "ok");
  CHECK(verify_code(c, h, kBody, kSignedAt + seconds(3601)) == "stale_signature");
  c.tolerance = seconds(0);
  CHECK(verify_code(c, h, kBody, kSignedAt + std::chrono::hours(1000)) == "ok");
  // A stale timestamp with a wrong signature is a bad signature: time is checked last.
  c.tolerance = seconds(300);
  CHECK(verify_code(c, headers("x-signature", "t=1,v1=" + kStripeSignature), kBody, kSignedAt) ==
        "bad_signature");
  CHECK(verify_code(c, headers("x-signature", "t=-9223372036854775808,v1=00"), kBody, kSignedAt) ==
        "bad_signature");
}

TEST_CASE("sign_request produces what verify_signature accepts", "[ingest][signature]") {
  CHECK(sign_request(SignatureScheme::kShopify, kShopifySecret, kBody, kSignedAt) ==
        kShopifySignature);
  CHECK(sign_request(SignatureScheme::kHmacSha256Hex, kHexSecret, kBody, kSignedAt) ==
        kHexSignature);
  CHECK(sign_request(SignatureScheme::kStripe, kStripeSecret, kBody, kSignedAt) ==
        "t=1700000000,v1=" + kStripeSignature);
  CHECK(parse_signature_scheme("hmac-sha256") == SignatureScheme::kStripe);
  CHECK(parse_signature_scheme("hmac-sha256-hex") == SignatureScheme::kHmacSha256Hex);
  CHECK(parse_signature_scheme("shopify") == SignatureScheme::kShopify);
  CHECK_FALSE(parse_signature_scheme("md5"));
}
