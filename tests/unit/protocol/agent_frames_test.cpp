#include "protocol/agent_frames.hpp"

#include <gtest/gtest.h>

namespace berth::protocol {
namespace {

TEST(AgentFrames, LogFramesAreTypedAndBadFieldsNamed) {
  auto ok = parseLogFrame({{"app", "web"},
                           {"dropped", 3},
                           {"lines", {{{"at", 5}, {"stream", "stderr"}, {"text", "x"}, {"deployment", 2}, {"replica", 1}}}}});
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->dropped, 3u);
  ASSERT_EQ(ok->lines.size(), 1u);
  EXPECT_EQ(ok->lines[0].stream, "stderr");
  EXPECT_EQ(ok->lines[0].deployment, 2);
  // Wrong types used to throw inside json::value on the server's I/O thread.
  auto bad = parseLogFrame({{"app", "web"}, {"lines", {{{"at", "soon"}}}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "schema_violation");
  EXPECT_NE(bad.error().message.find("data.lines[0].at"), std::string::npos) << bad.error().message;
  EXPECT_FALSE(parseLogFrame({{"app", 7}}).ok());
  EXPECT_FALSE(parseLogFrame({{"app", "web"}, {"lines", {{{"deployment", 1LL << 40}}}}}).ok());
  EXPECT_FALSE(parseLogFrame({{"app", "web"}, {"dropped", -1}}).ok());
}

TEST(AgentFrames, AppEventsAndResultsAreTyped) {
  auto e = parseAppEvent({{"kind", "app"}, {"app", "web"}, {"deployment", 3}, {"state", "drift"}, {"reason", "r"}});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->deployment, 3);
  EXPECT_FALSE(parseAppEvent({{"app", "web"}, {"state", 5}}).ok());
  EXPECT_FALSE(parseAppEvent({{"state", "x"}}).ok());
  auto r = parseResultFrame({{"status", "failed"}, {"exit_code", 2}, {"output", {{"a", 1}}}});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->succeeded);
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_FALSE(parseResultFrame({{"exit_code", "2"}}).ok());
  EXPECT_FALSE(parseResultFrame({{"status", "maybe"}}).ok());
  EXPECT_EQ(eventKind({{"kind", 5}}), "");
}

TEST(AgentFrames, PullProgressIsBoundedAndRebuiltFromItsCheckedFields) {
  nlohmann::json progress = {{"layers", {{{"id", "3f2a"}, {"state", "Downloading"}, {"current", 5}, {"total", 9}}}},
                             {"layers_done", 0}, {"bytes_current", 5}, {"bytes_total", 9}, {"summary", "0/1 layers"},
                             {"extra", std::string(1000, 'x')}};
  auto e = parseAppEvent({{"app", "web"}, {"deployment", 2}, {"state", "pull_progress"}, {"progress", progress}});
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_FALSE(e->progress.contains("extra"));  // only the fields a display reads are kept
  EXPECT_EQ(e->progress["layers"][0]["id"], "3f2a");
  EXPECT_EQ(e->progress["bytes_total"], 9);
  EXPECT_TRUE(parseAppEvent({{"app", "web"}, {"state", "pulling"}})->progress.is_null());

  auto with = [&](const char* key, const nlohmann::json& value) {
    nlohmann::json p = progress;
    p[key] = value;
    return parseAppEvent({{"app", "web"}, {"state", "pull_progress"}, {"progress", p}});
  };
  auto negative = with("bytes_total", -1);
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.error().message.find("data.progress.bytes_total"), std::string::npos) << negative.error().message;
  EXPECT_FALSE(with("bytes_current", "5").ok());
  EXPECT_FALSE(with("summary", std::string(kMaxProgressText + 1, 's')).ok());
  EXPECT_FALSE(with("layers", "all").ok());
  nlohmann::json many = nlohmann::json::array();
  for (std::size_t i = 0; i <= kMaxProgressLayers; ++i) many.push_back({{"id", std::to_string(i)}});
  EXPECT_FALSE(with("layers", many).ok());
  auto longId = with("layers", {{{"id", std::string(kMaxProgressLayerId + 1, 'a')}}});
  ASSERT_FALSE(longId.ok());
  EXPECT_NE(longId.error().message.find("data.progress.layers[0].id"), std::string::npos) << longId.error().message;
  EXPECT_FALSE(with("layers", {{{"id", "a"}, {"total", -3}}}).ok());
  EXPECT_FALSE(with("layers", {7}).ok());
  EXPECT_FALSE(parseAppEvent({{"app", "web"}, {"state", "pull_progress"}, {"progress", "half"}}).ok());
}

TEST(AgentFrames, HelloTextAnOperatorReadsIsBoundedAndHasNoControlCharacters) {
  EXPECT_TRUE(checkHelloText({{"hostname", "web-1"}, {"version", "0.2"}, {"labels", {{"zone", "a"}}}}).ok());
  auto escape = checkHelloText({{"hostname", "evil\x1b[31m"}, {"version", "t"}});
  ASSERT_FALSE(escape.ok());
  EXPECT_EQ(escape.error().code, "schema_violation");
  EXPECT_NE(escape.error().message.find("data.hostname"), std::string::npos) << escape.error().message;
  EXPECT_FALSE(checkHelloText({{"hostname", "h"}, {"site", "x\xc2\x9b"}}).ok());  // C1 CSI
  EXPECT_FALSE(checkHelloText({{"hostname", std::string(254, 'h')}}).ok());
  EXPECT_FALSE(checkHelloText({{"hostname", "h"}, {"version", 5}}).ok());
  auto label = checkHelloText({{"hostname", "h"}, {"labels", {{"zone", std::string(129, 'a')}}}});
  ASSERT_FALSE(label.ok());
  EXPECT_NE(label.error().message.find("data.labels.zone"), std::string::npos) << label.error().message;
  EXPECT_FALSE(checkHelloText({{"hostname", "h"}, {"labels", {{"zone", 1}}}}).ok());
  nlohmann::json many = nlohmann::json::object();
  for (int i = 0; i < 65; ++i) many["k" + std::to_string(i)] = "v";
  EXPECT_FALSE(checkHelloText({{"hostname", "h"}, {"labels", many}}).ok());
}

}  // namespace
}  // namespace berth::protocol
