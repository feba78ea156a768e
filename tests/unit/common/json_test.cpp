#include "common/json.hpp"

#include <gtest/gtest.h>

namespace berth {
namespace {

TEST(JsonDepth, CountsNestingOutsideStrings) {
  EXPECT_EQ(jsonNestingDepth("1", 64), 0u);
  EXPECT_EQ(jsonNestingDepth(R"({"a":[1,{"b":[]}]})", 64), 4u);
  EXPECT_EQ(jsonNestingDepth(R"({"a":"[[[[[[\"[[["})", 64), 1u);
  EXPECT_EQ(jsonNestingDepth(R"(["\\",[[]]])", 64), 3u);
}

TEST(JsonDepth, TwoHundredThousandBracketsAreRefusedWithoutBuildingAValue) {
  const std::string deep(200'000, '[');
  auto parsed = parseJson(deep);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, "too_deep");
  EXPECT_TRUE(parseJsonOrDiscarded(deep).is_discarded());
  // Balanced and valid, still too deep.
  std::string balanced = std::string(65, '[') + std::string(65, ']');
  EXPECT_EQ(parseJson(balanced).error().code, "too_deep");
}

TEST(JsonDepth, SixtyFourLevelsAreFine) {
  std::string ok = std::string(64, '[') + std::string(64, ']');
  auto parsed = parseJson(ok);
  ASSERT_TRUE(parsed.ok());
  nlohmann::json copy = *parsed;  // copies and destroys without trouble
  EXPECT_TRUE(copy.is_array());
}

TEST(JsonDepth, MalformedIsNamed) {
  EXPECT_EQ(parseJson("{").error().code, "malformed_json");
  EXPECT_EQ(parseJson("\"\xff\"").error().code, "malformed_json");
}

TEST(DumpJson, ReplacesInvalidUtf8InsteadOfThrowing) {
  nlohmann::json j = {{"t", std::string("a\xff")}};
  EXPECT_THROW((void)j.dump(), nlohmann::json::type_error);
  EXPECT_EQ(dumpJson(j), "{\"t\":\"a\xef\xbf\xbd\"}");
}

TEST(TruncateUtf8, NeverSplitsASequence) {
  EXPECT_EQ(truncateUtf8("abc", 5), "abc");
  EXPECT_EQ(truncateUtf8("abc", 2), "ab");
  EXPECT_EQ(truncateUtf8("a\xc3\xa9", 2), "a");              // é cut after its lead byte
  EXPECT_EQ(truncateUtf8("a\xf0\x9f\x98\x80" "b", 4), "a");     // 😀 cut after three of four bytes
  EXPECT_EQ(truncateUtf8("a\xf0\x9f\x98\x80" "b", 5), "a\xf0\x9f\x98\x80");
}

}  // namespace
}  // namespace berth
