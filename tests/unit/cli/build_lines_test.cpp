#include "cli/build_lines.hpp"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace berth::cli {
namespace {

nlohmann::json line(std::int64_t seq, const std::string& stream, int deployment, const std::string& text) {
  return {{"seq", seq}, {"stream", stream}, {"deployment", deployment}, {"replica", 0}, {"text", text}};
}

// A log as the server pages it: lines after `after`, at most kBuildLinePage, the cursor the last one's seq.
struct FakeLog {
  std::vector<nlohmann::json> lines;
  std::vector<std::int64_t> asked;
  Result<nlohmann::json> page(std::int64_t after) {
    asked.push_back(after);
    nlohmann::json out = nlohmann::json::array();
    std::int64_t cursor = after;
    for (const auto& l : lines) {
      if (l["seq"].get<std::int64_t>() <= after || out.size() >= kBuildLinePage) continue;
      out.push_back(l);
      cursor = l["seq"];
    }
    return nlohmann::json{{"lines", out}, {"cursor", cursor}};
  }
};

TEST(BuildLines, OnlyTheDeploymentsBuildLinesEachOnceAcrossPolls) {
  FakeLog log;
  log.lines = {line(1, "stdout", 1, "the old version talks"), line(2, "build", 1, "an older build"),
               line(3, "build", 2, "Step 1/2 : FROM base"), line(4, "stderr", 1, "still talking"),
               line(5, "build", 2, "Step 2/2 : RUN make")};
  std::vector<std::string> printed;
  auto print = [&](const std::string& l) { printed.push_back(l); };
  auto page = [&](std::int64_t after) { return log.page(after); };
  std::int64_t cursor = 1;  // taken before deployment 2 was asked for
  ASSERT_TRUE(drainBuildLines(page, 2, cursor, print).ok());
  EXPECT_EQ(printed, (std::vector<std::string>{"Step 1/2 : FROM base", "Step 2/2 : RUN make"}));
  EXPECT_EQ(cursor, 5);
  // The next poll: nothing new printed again; then what came meanwhile, once.
  ASSERT_TRUE(drainBuildLines(page, 2, cursor, print).ok());
  EXPECT_EQ(printed.size(), 2u);
  log.lines.push_back(line(6, "build", 2, "Successfully built 1234"));
  ASSERT_TRUE(drainBuildLines(page, 2, cursor, print).ok());
  EXPECT_EQ(printed.back(), "Successfully built 1234");
  EXPECT_EQ(printed.size(), 3u);
}

TEST(BuildLines, AFullPageIsFollowedByTheNextUntilCaughtUp) {
  FakeLog log;
  const std::size_t total = kBuildLinePage * 2 + 7;
  for (std::size_t i = 1; i <= total; ++i)
    log.lines.push_back(line(static_cast<std::int64_t>(i), "build", 3, "line " + std::to_string(i)));
  std::vector<std::string> printed;
  std::int64_t cursor = 0;
  ASSERT_TRUE(drainBuildLines([&](std::int64_t after) { return log.page(after); }, 3, cursor,
                              [&](const std::string& l) { printed.push_back(l); })
                  .ok());
  ASSERT_EQ(printed.size(), total);
  EXPECT_EQ(printed.front(), "line 1");
  EXPECT_EQ(printed.back(), "line " + std::to_string(total));
  EXPECT_EQ(log.asked, (std::vector<std::int64_t>{0, static_cast<std::int64_t>(kBuildLinePage),
                                                  static_cast<std::int64_t>(2 * kBuildLinePage)}));
}

TEST(BuildLines, OddAnswersEndTheWalkAndHostileTextIsEscaped) {
  std::vector<std::string> printed;
  auto print = [&](const std::string& l) { printed.push_back(l); };
  // A full page whose cursor stands still: one fetch, not a loop.
  nlohmann::json full = nlohmann::json::array();
  for (std::size_t i = 0; i < kBuildLinePage; ++i) full.push_back(line(1, "build", 1, "x"));
  int fetches = 0;
  std::int64_t cursor = 10;
  ASSERT_TRUE(drainBuildLines(
                  [&](std::int64_t) -> Result<nlohmann::json> {
                    ++fetches;
                    return nlohmann::json{{"lines", full}, {"cursor", 10}};
                  },
                  1, cursor, print)
                  .ok());
  EXPECT_EQ(fetches, 1);
  EXPECT_EQ(cursor, 10);
  // Wrong types are skipped, not thrown; control characters come out escaped, tabs kept.
  printed.clear();
  cursor = 0;
  nlohmann::json odd = {{"lines",
                         {7,
                          line(1, "build", 1, "\x1b]0;pwned\x07\tdone"),
                          {{"stream", "build"}, {"deployment", "1"}, {"text", "wrong deployment type"}},
                          {{"stream", "build"}, {"deployment", 1}, {"text", 5}}}},
                        {"cursor", "soon"}};
  ASSERT_TRUE(drainBuildLines([&](std::int64_t) -> Result<nlohmann::json> { return odd; }, 1, cursor, print).ok());
  EXPECT_EQ(printed, (std::vector<std::string>{"\\x1b]0;pwned\\x07\tdone", ""}));
  EXPECT_EQ(cursor, 0);
  EXPECT_TRUE(
      drainBuildLines([&](std::int64_t) -> Result<nlohmann::json> { return nlohmann::json("nope"); }, 1, cursor, print)
          .ok());
  // A failed fetch is the caller's to report.
  auto failed =
      drainBuildLines([&](std::int64_t) -> Result<nlohmann::json> { return makeError("unauthorized", "key revoked"); },
                      1, cursor, print);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, "unauthorized");
}

}  // namespace
}  // namespace berth::cli
