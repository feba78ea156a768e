// DockerRuntime::pull's progress (issue 11): a pull from a local registry
// (Debian's docker-registry, plain HTTP on a free loopback port, which dockerd
// trusts for 127.0.0.0/8) into a private dockerd, both started by the test and
// stopped after it, reports per-layer state and bytes as it goes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/subprocess.hpp"
#include "harness.hpp"
#include "proxy_support.hpp"

namespace berth::itest {
namespace {

TEST(PullProgressTest, APullReportsEachLayersStateAndBytes) {
  if (!std::filesystem::exists("/usr/bin/docker-registry")) GTEST_FAIL() << "setup.sh installs docker-registry";
  DockerDaemon daemon;
  ASSERT_TRUE(daemon.ready());
  const std::string dir = daemon.root + "/registry";
  std::filesystem::create_directories(dir + "/data");
  const std::string host = "127.0.0.1:" + std::to_string(freePort());
  std::ofstream(dir + "/config.yml") << "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: " << dir
                                     << "/data\nhttp:\n  addr: " << host << "\n";
  auto registry = Process::spawn({"/usr/bin/docker-registry", "serve", dir + "/config.yml"}, dir + "/registry.log");
  ASSERT_TRUE(eventually([&] {
    auto r = daemon.docker->request("GET", "/info");  // (any call) and the registry answering
    auto up = runProcess({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://" + host + "/v2/"}, 3000);
    return r.ok() && up && up->output == "200";
  })) << registry->log();
  // Pushed through the Engine API, then forgotten locally so the pull has to fetch it.
  std::string noise(3 << 20, '\0');  // incompressible: a layer big enough to download in several reports
  std::uint32_t seed = 2463534242u;
  for (auto& c : noise) {
    seed ^= seed << 13, seed ^= seed >> 17, seed ^= seed << 5;
    c = static_cast<char>(seed);
  }
  ASSERT_FALSE(daemon.importBusybox("berth-test/progress", "1", {{"/www/big", noise}}).empty());
  auto tagged = daemon.docker->request("POST", "/images/berth-test/progress:1/tag?repo=" + host + "/progress&tag=1");
  ASSERT_TRUE(tagged.ok() && tagged->status == 201);
  auto pushed = daemon.docker->request("POST", "/images/" + host + "/progress/push?tag=1", "", "application/json",
                                       {{"X-Registry-Auth", "e30="}}, 120);
  ASSERT_TRUE(pushed.ok() && pushed->status == 200 && pushed->body.find("error") == std::string::npos)
      << (pushed ? pushed->body : pushed.error().message);
  (void)daemon.docker->request("DELETE", "/images/" + host + "/progress:1");
  (void)daemon.docker->request("DELETE", "/images/berth-test/progress:1?force=1");
  ASSERT_FALSE(daemon.docker->imageId(host + "/progress:1")->has_value());

  std::vector<nlohmann::json> reports;
  auto pulled = daemon.docker->pull(host + "/progress:1", std::nullopt,
                                    [&](const nlohmann::json& progress) { reports.push_back(progress); });
  ASSERT_TRUE(pulled.ok()) << pulled.error().message;
  ASSERT_FALSE(reports.empty());
  std::set<std::string> states;
  std::int64_t total = 0;
  for (const auto& r : reports) {
    for (const auto& layer : r["layers"]) states.insert(layer["state"].get<std::string>());
    total = std::max(total, r["bytes_total"].get<std::int64_t>());
    EXPECT_TRUE(r.contains("summary"));
  }
  EXPECT_TRUE(states.count("Downloading")) << reports.back().dump();
  EXPECT_TRUE(states.count("Pull complete")) << reports.back().dump();
  EXPECT_GT(total, 0);
  const auto& last = reports.back();
  EXPECT_EQ(last["layers_done"], last["layers"].size()) << last.dump();
  EXPECT_EQ(last["bytes_current"], last["bytes_total"]);
  EXPECT_NE(last["summary"].get<std::string>().find("layers"), std::string::npos);
  EXPECT_TRUE(daemon.docker->imageId(host + "/progress:1")->has_value());

  // Callers without an observer keep today's behaviour, failures included.
  (void)daemon.docker->request("DELETE", "/images/" + host + "/progress:1");
  EXPECT_TRUE(daemon.docker->pull(host + "/progress:1", std::nullopt).ok());
  auto missing = daemon.docker->pull(host + "/nothing:1", std::nullopt);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "pull_failed");
  registry->signal(SIGTERM);
  registry->wait(std::chrono::seconds(10));
}

}  // namespace
}  // namespace berth::itest
