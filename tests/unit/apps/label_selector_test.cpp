#include "apps/label_selector.hpp"

#include <gtest/gtest.h>

namespace berth::apps {
namespace {

TEST(LabelSelector, ParsesPairsAndWritesThemInKeyOrder) {
  auto s = parseLabelSelector("selector", "zone=eu,role=web");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(*s, (LabelSelector{{"role", "web"}, {"zone", "eu"}}));
  EXPECT_EQ(selectorText(*s), "role=web,zone=eu");
  // Split at the first '=' as the agent's --labels does; an empty value is a value.
  EXPECT_EQ(*parseLabelSelector("selector", "k=a=b"), (LabelSelector{{"k", "a=b"}}));
  EXPECT_EQ(*parseLabelSelector("selector", "gpu="), (LabelSelector{{"gpu", ""}}));
}

TEST(LabelSelector, BadTextNamesTheFieldAndTheRule) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "key=value"},
      {"role", "'role' is not"},
      {"=web", "label key ''"},
      {"role=web,", "'' is not"},
      {",role=web", "'' is not"},
      {"role=web,,zone=eu", "'' is not"},
      {"role=web,role=db", "given twice"},
      {"role=we\nb", "control characters"},
      {"role=\x1b[31m", "control characters"},
      {std::string(64, 'k') + "=v", "1-63"},
      {"k=" + std::string(129, 'v'), "at most 128"},
      {std::string(20000, 'x'), "at most"},
  };
  for (const auto& [text, rule] : cases) {
    auto r = parseLabelSelector("selector", text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code, "invalid_argument");
    EXPECT_NE(r.error().message.find("'selector'"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(rule), std::string::npos) << text << ": " << r.error().message;
  }
  std::string many;
  for (int i = 0; i < 65; ++i) many += (i ? "," : "") + std::string("k") + std::to_string(i) + "=v";
  auto tooMany = parseLabelSelector("selector", many);
  ASSERT_FALSE(tooMany.ok());
  EXPECT_NE(tooMany.error().message.find("at most 64 pairs"), std::string::npos) << tooMany.error().message;
}

TEST(LabelSelector, MatchesOnlyNodesCarryingEveryPairExactly) {
  const LabelSelector web{{"role", "web"}, {"zone", "eu"}};
  EXPECT_TRUE(selectorMatches(web, {{"role", "web"}, {"zone", "eu"}, {"disk", "ssd"}}));
  EXPECT_FALSE(selectorMatches(web, {{"role", "web"}}));
  EXPECT_FALSE(selectorMatches(web, {{"role", "web"}, {"zone", "EU"}}));
  EXPECT_FALSE(selectorMatches(web, {{"role", "web "}, {"zone", "eu"}}));
  EXPECT_FALSE(selectorMatches({{"gpu", ""}}, {}));  // an empty value still needs the label
  EXPECT_TRUE(selectorMatches({{"gpu", ""}}, {{"gpu", ""}}));
  EXPECT_TRUE(selectorMatches({}, {}));
}

}  // namespace
}  // namespace berth::apps
