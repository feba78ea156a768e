// Faults injected into real processes. Servers started: `berth server` with
// its data directory on a small tmpfs (mounted here, needs root) and a
// `berth agent`, on 127.0.0.1 with mutual TLS.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/enrollment.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"
#include "harness.hpp"
#include "protocol/envelope.hpp"
#include "net/http_client.hpp"
#include "pki/sealed_file.hpp"

namespace berth::itest {
namespace {

// A tmpfs of `size` mounted on `dir` for one test; lazily unmounted after.
class TmpfsMount {
 public:
  TmpfsMount(const std::string& dir, const std::string& size) : dir_(dir) {
    std::filesystem::create_directories(dir);
    mounted_ = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, ("size=" + size + ",mode=0700").c_str()) == 0;
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }

 private:
  std::string dir_;
  bool mounted_ = false;
};

// Writes zeros to `path` until the file system is full.
void fillDisk(const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  const std::string block(1 << 16, '\0');
  while (out.write(block.data(), static_cast<std::streamsize>(block.size()))) out.flush();
}

net::HttpResponse rawPost(Cluster& c, const std::string& target, const std::string& body) {
  auto tls = net::makeClientContext({*pki::readFile(c.caFile()), "", ""});
  auto r = net::httpsRequest(*net::parseUrl(c.url()), **tls,
                             {"POST", target, body, {{"Authorization", "Bearer " + c.apiKey()}}});
  EXPECT_TRUE(r.ok());
  return r.ok() ? *r : net::HttpResponse{};
}

TEST(DiskFull, WritesAnswer503AndRefusedCommandsNeverRun) {
  Cluster c;
  TmpfsMount disk(c.serverDir(), "24m");
  ASSERT_TRUE(disk.mounted()) << "mounting a tmpfs needs root";
  c.startServer();
  const std::string id = c.startOnlineAgent("a1");
  auto before = c.api("GET", "/api/v1/commands?node=" + id).body["commands"].size();

  fillDisk(c.serverDir() + "/filler");
  int refused = 0;
  for (int i = 0; i < 5; ++i) {  // several, so the WAL has to grow past what it had
    auto r = rawPost(c, "/api/v1/nodes/" + id + "/commands", R"({"verb":"ping","correlation_id":"full-)" +
                                                               std::to_string(i) + R"("})");
    if (r.status == 202) continue;
    ++refused;
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_EQ(r.headers["retry-after"], "5");
    EXPECT_NE(r.body.find("store_unavailable"), std::string::npos) << r.body;
  }
  ASSERT_GT(refused, 0) << "the full disk refused nothing";
  // Nothing refused reached the agent.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const auto agentLog = c.agent("a1").log();
  const auto accepted = static_cast<int>(5 - refused);
  EXPECT_EQ(countOccurrences(agentLog, "\"verb\":\"ping\""), accepted) << agentLog;

  std::filesystem::remove(c.serverDir() + "/filler");
  auto after = c.api("POST", "/api/v1/nodes/" + id + "/commands", {{"verb", "ping"}});
  ASSERT_EQ(after.status, 202) << after.body.dump();
  EXPECT_EQ(c.waitForCommand(after.body["id"])["state"], "succeeded");
  // The store holds exactly the accepted commands plus the last one.
  EXPECT_EQ(c.api("GET", "/api/v1/commands?node=" + id).body["commands"].size(),
            before + static_cast<std::size_t>(accepted) + 1);
  c.killServer(SIGTERM);
}

// Servers started: one `berth server`; the test plays an enrolled agent.
TEST(DeepJson, FromAnAgentAndThroughTheApiIsRefusedWithoutHarm) {
  Cluster c;
  c.startServer();
  const std::string deep = std::string(200'000, '[') + std::string(200'000, ']');
  auto r = rawPost(c, "/api/v1/tokens", deep);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("nested deeper than 64"), std::string::npos) << r.body;

  auto enrolled = agent::enroll({c.url(), c.createToken(), c.caPin(), "deep"});
  ASSERT_TRUE(enrolled.ok());
  RawAgentConnection conn;
  ASSERT_TRUE(conn.connect(c.url(), *enrolled).ok());
  const auto now = systemNowMs();
  conn.send(R"({"type":"HELLO","agent_id":")" + enrolled->node_id + R"(","issued_at":)" + std::to_string(now) +
            R"(,"expires_at":)" + std::to_string(now + 30'000) + R"(,"nonce":")" + randomHex(16) +
            R"(","data":{"hostname":"deep","version":"t","labels":)" + deep + "}}");
  auto answer = conn.read();
  ASSERT_TRUE(answer.has_value());
  EXPECT_NE(answer->find("malformed_frame"), std::string::npos) << *answer;
  // The server is alive and still serves.
  EXPECT_TRUE(c.server().running());
  EXPECT_EQ(c.api("GET", "/api/v1/status").status, 200);
}

}  // namespace
}  // namespace berth::itest
