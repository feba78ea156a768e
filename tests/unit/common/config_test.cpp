#include "common/config.hpp"

#include <gtest/gtest.h>

#include "common/encoding.hpp"

namespace berth {
namespace {

TEST(Config, EnvironmentParsesJsonScalarsAndKeepsStrings) {
  auto j = configFromEnvironment({"max_queue", "listen", "absent"},
                                 {{"BERTH_MAX_QUEUE", "12"}, {"BERTH_LISTEN", "127.0.0.1:1"}, {"OTHER", "x"}});
  EXPECT_EQ(j["max_queue"], 12);
  EXPECT_EQ(j["listen"], "127.0.0.1:1");
  EXPECT_FALSE(j.contains("absent"));
}

TEST(Config, LaterLayersWin) {
  auto merged = mergeConfig({{"a", 1}, {"b", 2}}, {{"b", 3}});
  EXPECT_EQ(merged["a"], 1);
  EXPECT_EQ(merged["b"], 3);
}

TEST(Config, MissingFileIsAnError) {
  auto r = loadConfigFile("/nonexistent/berth.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "config_unreadable");
}

TEST(Encoding, Base64RoundTripAndRejectsGarbage) {
  const std::string bytes("\x00\x01\xfe\xff payload", 12);
  auto decoded = base64Decode(base64Encode(bytes));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, bytes);
  EXPECT_FALSE(base64Decode("not base64 !!").has_value());
  EXPECT_EQ(toHex("\x01\xab"), "01ab");
}

}  // namespace
}  // namespace berth
