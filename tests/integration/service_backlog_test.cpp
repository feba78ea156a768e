// Servers started: one `berth server` on 127.0.0.1 (SQLite). The test plays the agent over a real
// mutual-TLS WebSocket, and holds the server's SQLite write lock from outside so that its service
// thread stalls in a write (as on a slow or busy disk) while the network threads keep reading.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <thread>

#include "agent/enrollment.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"
#include "harness.hpp"
#include "protocol/envelope.hpp"

namespace berth::itest {
namespace {

using protocol::Envelope;
using protocol::FrameType;

Envelope agentFrame(const std::string& node_id, FrameType type) {
  Envelope e;
  e.type = type;
  e.agent_id = node_id;
  e.issued_at = systemNowMs();
  e.expires_at = e.issued_at + 60'000;
  e.nonce = randomHex(16);
  return e;
}

std::int64_t metricValue(const std::string& text, const std::string& name) {
  const auto at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stoll(text.substr(at + name.size() + 2));
}

// Frames the service thread has not handled yet are bounded (service_backlog_kib): over it the
// network threads stop reading, and when the service thread catches up every frame is handled,
// in order, none lost.
TEST(ServiceBacklog, AStalledServiceThreadPausesAgentReadsAndLosesNoFrame) {
  Cluster c;
  c.startServer({"--service-backlog-kib", "64", "--agent-frames-per-s", "1000000", "--agent-frames-burst", "1000000"});
  auto enrolled = agent::enroll({c.url(), c.createToken(), c.caPin(), "raw"});
  ASSERT_TRUE(enrolled.ok()) << enrolled.error().message;
  const std::string node = enrolled->node_id;
  RawAgentConnection conn;
  ASSERT_TRUE(conn.connect(c.url(), *enrolled).ok());
  Envelope hello = agentFrame(node, FrameType::Hello);
  hello.data = {{"hostname", "raw"}, {"version", "test"}};
  conn.send(protocol::serialize(hello));
  ASSERT_TRUE(conn.read().has_value());  // WELCOME

  auto telemetry = [&](int seq) {
    Envelope t = agentFrame(node, FrameType::Telemetry);
    t.data = {{"seq", seq}, {"cpu_percent", 1.0}, {"padding", std::string(400, 'x')}};
    conn.send(protocol::serialize(t));
  };
  // The write lock, from outside. The server waits up to 5 s for it (busy timeout): held 3 s.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((c.serverDir() + "/berth.db").c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);  // the server may be writing (the HELLO's records) right now
  ASSERT_EQ(sqlite3_exec(db, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  telemetry(1);
  // The next 1 s tick stores it and stalls there, waiting for the lock.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  constexpr int kFrames = 1000;  // ~0.5 MB: eight times the backlog allowed, well inside TCP's buffers
  for (int seq = 2; seq <= kFrames; ++seq) telemetry(seq);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  ASSERT_EQ(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);

  // Caught up: the newest sample is the last frame sent, so none was dropped on the way.
  nlohmann::json latest;
  EXPECT_TRUE(eventually([&] {
    latest = c.api("GET", "/api/v1/nodes/" + node + "/telemetry").body["latest"];
    return latest.is_object() && latest["data"]["seq"] == kFrames;
  })) << latest.dump().substr(0, 300);
  const std::string metrics = c.api("GET", "/metrics").body.get<std::string>();
  EXPECT_GE(metricValue(metrics, "berth_agent_reads_paused_total"), 1) << "reads never paused";
  // One frame past the mark at most (read before the check), not the ~0.5 MB sent.
  const std::int64_t peak = metricValue(metrics, "berth_service_backlog_peak_bytes");
  EXPECT_GT(peak, 0);
  EXPECT_LE(peak, 64 * 1024 + 2048) << "the backlog went past service_backlog_kib";
  EXPECT_EQ(metricValue(metrics, "berth_service_backlog_bytes"), 0);
  // The session is still open and served.
  Envelope heartbeat = agentFrame(node, FrameType::Heartbeat);
  conn.send(protocol::serialize(heartbeat));
  EXPECT_TRUE(eventually([&] {
    return c.api("GET", "/api/v1/nodes/" + node).body.value("status", "") == "online";
  }));
}

}  // namespace
}  // namespace berth::itest
