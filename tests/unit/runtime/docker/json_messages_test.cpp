#include "runtime/docker/json_messages.hpp"

#include <gtest/gtest.h>

namespace berth::runtime::docker {
namespace {

// What dockerd 20.10 sent for a pull of a two-layer image, trimmed.
const std::string kPull =
    "{\"status\":\"Pulling from library/node\",\"id\":\"20\"}\r\n"
    "{\"status\":\"Pulling fs layer\",\"progressDetail\":{},\"id\":\"a1\"}\r\n"
    "{\"status\":\"Already exists\",\"progressDetail\":{},\"id\":\"b2\"}\r\n"
    "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1500000,\"total\":3000000},\"progress\":\"[=>  ]\",\"id\":\"a1\"}\r\n";

TEST(JsonMessageSplitter, JoinsMessagesSplitAnywhereAndSkipsNoise) {
  JsonMessageSplitter splitter;
  std::vector<nlohmann::json> all;
  for (std::size_t i = 0; i < kPull.size(); i += 7) {
    auto got = splitter.feed(std::string_view(kPull).substr(i, 7));
    all.insert(all.end(), got.begin(), got.end());
  }
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[3]["id"], "a1");
  EXPECT_TRUE(splitter.feed("not json\n[1,2]\n\n").empty());
}

TEST(JsonMessageSplitter, AnOverLongMessageIsDroppedAndTheNextOneRead) {
  JsonMessageSplitter splitter;
  const std::string huge = "{\"stream\":\"" + std::string(JsonMessageSplitter::kMaxMessage + 10, 'x') + "\"}";
  EXPECT_TRUE(splitter.feed(huge.substr(0, 600000)).empty());
  EXPECT_TRUE(splitter.feed(huge.substr(600000)).empty());
  auto next = splitter.feed("\n{\"stream\":\"ok\\n\"}\n");
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0]["stream"], "ok\n");
}

TEST(PullProgress, CountsLayersAndBytesAsTheyArrive) {
  JsonMessageSplitter splitter;
  PullProgress progress;
  for (const auto& m : splitter.feed(kPull)) progress.apply(m);
  EXPECT_EQ(progress.layers().size(), 2u) << "the 'Pulling from' line is no layer";
  EXPECT_EQ(progress.layersDone(), 1u);
  EXPECT_EQ(progress.bytesCurrent(), 1500000);
  EXPECT_EQ(progress.bytesTotal(), 3000000);
  EXPECT_EQ(progress.summary(), "1/2 layers, 1.5 MB of 3.0 MB");

  for (const auto& m : splitter.feed("{\"status\":\"Download complete\",\"id\":\"a1\"}\n"
                                     "{\"status\":\"Extracting\",\"progressDetail\":{\"current\":10,\"total\":3000000},\"id\":\"a1\"}\n"
                                     "{\"status\":\"Pull complete\",\"id\":\"a1\"}\n"
                                     "{\"status\":\"Digest: sha256:abc\"}\n"
                                     "{\"status\":\"Status: Downloaded newer image for node:20\"}\n"))
    progress.apply(m);
  EXPECT_EQ(progress.layersDone(), 2u);
  EXPECT_EQ(progress.bytesCurrent(), 3000000) << "extraction does not move the download figure back";
  EXPECT_EQ(progress.digest(), "sha256:abc");
  EXPECT_FALSE(progress.error());
  EXPECT_EQ(progress.toJson()["layers_done"], 2);
}

TEST(PullProgress, AnErrorAndHostileNumbersAreHandled) {
  PullProgress progress;
  progress.apply(nlohmann::json::parse(R"({"status":"Downloading","progressDetail":{"current":-5,"total":"x"},"id":"l"})"));
  EXPECT_EQ(progress.bytesCurrent(), 0);
  progress.apply(nlohmann::json::parse(R"({"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"})"));
  ASSERT_TRUE(progress.error());
  EXPECT_EQ(*progress.error(), "manifest unknown");
}

TEST(BuildOutput, FollowsStepsJoinsSplitLinesAndReportsTheFailingStep) {
  BuildOutput build;
  std::vector<std::string> lines;
  auto add = [&](const std::string& json) {
    auto got = build.apply(nlohmann::json::parse(json));
    lines.insert(lines.end(), got.begin(), got.end());
  };
  add(R"({"stream":"Step 1/3 : FROM node:20\n"})");
  add(R"({"stream":" ---\u003e 1234\n"})");
  add(R"({"stream":"Step 2/3 : RUN [\"npm\",\"ci\"]\n"})");
  add(R"({"stream":"npm ERR! missing: left-"})");
  add(R"({"stream":"pad\n"})");
  EXPECT_EQ(build.step(), R"(Step 2/3 : RUN ["npm","ci"])");
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[3], "npm ERR! missing: left-pad");
  add(R"({"errorDetail":{"code":1,"message":"The command 'npm ci' returned a non-zero code: 1"},"error":"The command 'npm ci' returned a non-zero code: 1"})");
  ASSERT_TRUE(build.error());
  const auto report = build.failureReport();
  EXPECT_NE(report.find(R"(at Step 2/3 : RUN ["npm","ci"])"), std::string::npos) << report;
  EXPECT_NE(report.find("non-zero code: 1"), std::string::npos) << report;
  EXPECT_NE(report.find("npm ERR! missing: left-pad"), std::string::npos) << report;
}

TEST(BuildOutput, KeepsTheImageIdAndOnlyTheLastLines) {
  BuildOutput build;
  for (int i = 0; i < 50; ++i) build.apply({{"stream", "line " + std::to_string(i) + "\n"}});
  build.apply(nlohmann::json::parse(R"({"aux":{"ID":"sha256:feed"}})"));
  EXPECT_EQ(build.imageId(), "sha256:feed");
  const auto report = build.failureReport();
  EXPECT_EQ(report.find("line 29\n"), std::string::npos);
  EXPECT_NE(report.find("line 30"), std::string::npos);
  EXPECT_NE(report.find("line 49"), std::string::npos);
}

TEST(HumanBytes, UsesDecimalUnitsAsDockerDoes) {
  EXPECT_EQ(humanBytes(999), "999 B");
  EXPECT_EQ(humanBytes(1500), "1.5 kB");
  EXPECT_EQ(humanBytes(45'600'000), "45.6 MB");
  EXPECT_EQ(humanBytes(2'000'000'000'000'000), "2000.0 TB");
}

}  // namespace
}  // namespace berth::runtime::docker
