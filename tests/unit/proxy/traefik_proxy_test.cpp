// Traefik is not packaged for these machines: the adapter is tested on the
// file it writes (atomically, parseable, the previous one kept on a refusal).
#include "proxy/traefik/traefik_proxy.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "pki/sealed_file.hpp"

namespace berth::proxy::traefik {
namespace {

class TraefikProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = "/tmp/berth-traefik-XXXXXX";
    dir_ = ::mkdtemp(pattern.data());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  ProxyState state() {
    ProxyState s;
    s.apps.push_back({"shop", {{{"shop.example.com"}, "/", false}}, {{"172.18.0.5", 3000}}, false});
    return s;
  }
  std::string dir_;
};

TEST_F(TraefikProxyTest, WritesTheDynamicFileWholeAndLeavesNoTempFileBehind) {
  TraefikProxy traefik({}, dir_ + "/berth.yml");
  ASSERT_TRUE(traefik.start().ok());
  auto applied = traefik.apply(state());
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  const auto text = pki::readFile(dir_ + "/berth.yml");
  ASSERT_TRUE(text.ok());
  const auto written = nlohmann::json::parse(*text);
  EXPECT_EQ(written["http"]["services"]["berth-shop"]["loadBalancer"]["servers"][0]["url"], "http://172.18.0.5:3000");
  int files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 1);
}

// Records what would go to `berth helper`.
class RecordingHost final : public helper::HostActions {
 public:
  Result<void> shapeTraffic(int, std::int64_t, std::int64_t) override { return Ok{}; }
  Result<void> nginx(helper::NginxSignal, const std::string&) override { return Ok{}; }
  Result<void> caddyStart(const std::string&, const std::string&, const std::string&) override { return Ok{}; }
  Result<void> writeFile(const std::string& path, const std::string& content) override {
    writes.emplace_back(path, content);
    return Ok{};
  }
  std::vector<std::pair<std::string, std::string>> writes;
};

TEST_F(TraefikProxyTest, WithTheHelperTheFileIsWrittenThroughIt) {
  auto host = std::make_shared<RecordingHost>();
  TraefikProxy traefik({}, dir_ + "/berth.yml", host);
  ASSERT_TRUE(traefik.apply(state()).ok());
  ASSERT_EQ(host->writes.size(), 1u);
  EXPECT_EQ(host->writes[0].first, dir_ + "/berth.yml");
  EXPECT_NE(host->writes[0].second.find("http://172.18.0.5:3000"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/berth.yml"));  // not by the agent itself
}

TEST_F(TraefikProxyTest, ARefusedStateLeavesThePreviousFileAsItWas) {
  TraefikProxy traefik({}, dir_ + "/berth.yml");
  ASSERT_TRUE(traefik.apply(state()).ok());
  const auto before = pki::readFile(dir_ + "/berth.yml");
  auto hostile = state();
  hostile.apps[0].routes[0].hosts = {"shop.example.com`) || Host(`evil.com"};
  auto applied = traefik.apply(hostile);
  ASSERT_FALSE(applied.ok());
  EXPECT_NE(applied.error().message.find("hosts"), std::string::npos);
  EXPECT_EQ(*pki::readFile(dir_ + "/berth.yml"), *before);
}

TEST_F(TraefikProxyTest, AMissingDirectorySaysWhatTheAdapterNeeds) {
  TraefikProxy traefik({}, dir_ + "/absent/berth.yml");
  auto detected = traefik.detect();
  ASSERT_FALSE(detected.ok());
  EXPECT_EQ(detected.error().code, "proxy_missing");
  EXPECT_NE(detected.error().message.find("providers.file.filename"), std::string::npos);
}

}  // namespace
}  // namespace berth::proxy::traefik
