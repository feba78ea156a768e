// Servers started: one `berth server` on 127.0.0.1 (SQLite). The test plays the agent over a real
// mutual-TLS WebSocket, and holds the server's SQLite write lock from outside so that its service
// thread stalls in a write (as on a slow or busy disk) while the network threads keep reading.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <optional>
#include <thread>

#include "agent/enrollment.hpp"
#include "common/subprocess.hpp"
#include "harness.hpp"
#include "proxy_support.hpp"
#include "protocol/envelope.hpp"

namespace berth::itest {
namespace {

using protocol::Envelope;
using protocol::FrameType;

// A raw agent: enrolled, connected over mutual TLS, HELLO welcomed.
struct RawAgent {
  std::string node;
  RawAgentConnection conn;

  explicit RawAgent(Cluster& c, const std::string& name) {
    auto enrolled = agent::enroll({c.url(), c.createToken(), c.caPin(), name});
    if (!enrolled.ok()) throw std::runtime_error(enrolled.error().message);
    node = enrolled->node_id;
    if (!conn.connect(c.url(), *enrolled).ok()) throw std::runtime_error("no connection");
    Envelope hello = rawAgentFrame(node, FrameType::Hello);
    hello.data = {{"hostname", name}, {"version", "test"}};
    conn.send(protocol::serialize(hello));
    if (!conn.read().has_value()) throw std::runtime_error("no WELCOME");
  }
  // Sends one TELEMETRY frame of about 500 bytes; returns its size.
  std::int64_t telemetry(int seq) {
    Envelope t = rawAgentFrame(node, FrameType::Telemetry);
    t.data = {{"seq", seq}, {"cpu_percent", 1.0}, {"padding", std::string(400, 'x')}};
    const std::string text = protocol::serialize(t);
    conn.send(text);
    return static_cast<std::int64_t>(text.size());
  }
};

// Holds the server's SQLite write lock from outside: the service thread stalls in its next write.
// The server waits up to 5 s for it (busy timeout): the tests hold it about 3 s.
// The node's newest stored telemetry sample (null when none).
nlohmann::json latestTelemetry(Cluster& c, const std::string& node) {
  return c.api("GET", "/api/v1/nodes/" + node + "/telemetry").body["latest"];
}

class StoreLock {
 public:
  explicit StoreLock(const Cluster& c) {
    if (sqlite3_open((c.serverDir() + "/berth.db").c_str(), &db_) != SQLITE_OK) throw std::runtime_error("open");
    sqlite3_busy_timeout(db_, 5000);  // the server may be writing (a HELLO's records) right now
    if (sqlite3_exec(db_, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) != SQLITE_OK) throw std::runtime_error("lock");
  }
  ~StoreLock() { release(); }
  void release() {
    if (!db_) return;
    sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
    db_ = nullptr;
  }

 private:
  sqlite3* db_ = nullptr;
};

class ServiceBacklog : public ::testing::Test {
 protected:
  Cluster c;
  void SetUp() override {
    c.startServer({"--service-backlog-kib", "64", "--agent-frames-per-s", "1000000", "--agent-frames-burst", "1000000"});
  }
};

constexpr std::int64_t kMark = 64 * 1024;  // --service-backlog-kib 64
constexpr std::int64_t kFrameSlack = 2048;  // a frame already read when the mark was passed

// Frames the service thread has not handled yet are bounded (service_backlog_kib): over it the
// network threads stop reading, and when the service thread catches up every frame is handled,
// in order, none lost.
TEST_F(ServiceBacklog, AStalledServiceThreadPausesAgentReadsAndLosesNoFrame) {
  RawAgent a(c, "a");
  StoreLock lock(c);
  a.telemetry(1);
  // The next 1 s tick stores it and stalls there, waiting for the lock.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  constexpr int kFrames = 1000;  // ~0.5 MB: eight times the backlog allowed, well inside TCP's buffers
  for (int seq = 2; seq <= kFrames; ++seq) a.telemetry(seq);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  lock.release();

  // Caught up: the newest sample is the last frame sent, so none was dropped on the way.
  nlohmann::json newest;
  EXPECT_TRUE(eventually([&] {
    newest = latestTelemetry(c, a.node);
    return newest.is_object() && newest["data"]["seq"] == kFrames;
  })) << newest.dump().substr(0, 300);
  EXPECT_GE(c.metric("berth_agent_reads_paused_total"), 1) << "reads never paused";
  // At the mark at most, not the ~0.5 MB sent.
  const std::int64_t peak = c.metric("berth_service_backlog_peak_bytes");
  EXPECT_GT(peak, 0);
  EXPECT_LE(peak, kMark + kFrameSlack) << "the backlog went past service_backlog_kib";
  EXPECT_EQ(c.metric("berth_service_backlog_bytes"), 0);
  // The session is still open and served.
  a.conn.send(protocol::serialize(rawAgentFrame(a.node, FrameType::Heartbeat)));
  EXPECT_TRUE(eventually([&] { return c.node(a.node).value("status", "") == "online"; }));
}

// One agent flooding a slow server pauses at its own share (an eighth of the mark); the others'
// frames are still read meanwhile, and all are handled once the service thread catches up.
TEST_F(ServiceBacklog, OneFloodingAgentPausesItselfNotTheOthers) {
  RawAgent flood(c, "flood"), quiet(c, "quiet");
  StoreLock lock(c);
  std::int64_t floodFrame = flood.telemetry(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the service thread stalls
  for (int seq = 2; seq <= 1000; ++seq) floodFrame = std::max(floodFrame, flood.telemetry(seq));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the flood is paused at its share
  // ~6 KB: under the quiet agent's own share, and room for it under the mark.
  std::int64_t quietBytes = 0;
  int quietFrames = 0;
  while (quietBytes < 6 * 1024) quietBytes += quiet.telemetry(++quietFrames);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  lock.release();

  EXPECT_TRUE(eventually([&] {
    return latestTelemetry(c, flood.node)["data"]["seq"] == 1000 && latestTelemetry(c, quiet.node)["data"]["seq"] == quietFrames;
  }));
  // The flood alone stops at an eighth of the mark plus one frame: a higher peak means the quiet
  // agent's frames were read while the flood was paused.
  const std::int64_t peak = c.metric("berth_service_backlog_peak_bytes");
  EXPECT_GT(peak, kMark / 8 + floodFrame + quietBytes / 2) << "the quiet agent was held back with the flood";
  EXPECT_LT(peak, kMark / 2) << "the flood was not held at its share";
  EXPECT_GE(c.metric("berth_agent_reads_paused_total"), 1);
}

// An agent the server holds back is neither "silent" nor "flooding": found by an attack pass, a
// session paused longer than the missed-heartbeat window was dropped as unreachable, and what it sent
// at its allowed rate during the pause, read at once afterwards, cut it off for agent_frames_per_s.
TEST(ServiceBacklogHeldBack, AnAgentHeldBackStaysOnlineAndWithinItsFrameBudget) {
  Cluster c;
  c.startServer({"--service-backlog-kib", "64", "--heartbeat-interval-s", "1", "--heartbeat-misses", "2",
                 "--agent-frames-per-s", "200", "--agent-frames-burst", "200"});
  RawAgent a(c, "steady");
  int seq = 0;
  std::optional<StoreLock> lock(std::in_place, c);
  // A frame from a skewed clock: refused, and recording the refusal stalls the service thread on
  // the lock (3.5 s, longer than the 2 s heartbeat window). Its tick then runs right after that
  // handler, while the agent's later frames still wait unread.
  Envelope skewed = rawAgentFrame(a.node, FrameType::Heartbeat);
  skewed.issued_at += 3'600'000;
  skewed.expires_at += 3'600'000;
  a.conn.send(protocol::serialize(skewed));
  // Meanwhile 100 frames a second, half the budget, for 5 s.
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
    if (lock && std::chrono::steady_clock::now() - start > std::chrono::milliseconds(3500)) lock.reset();
    a.telemetry(++seq);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  lock.reset();
  EXPECT_GE(c.metric("berth_agent_reads_paused_total"), 1) << "the agent was never held back";
  nlohmann::json newest;
  EXPECT_TRUE(eventually([&] {
    newest = latestTelemetry(c, a.node);
    return newest.is_object() && newest["data"]["seq"] == seq;
  })) << "not every frame was handled: " << newest.dump().substr(0, 200) << " of " << seq;
  EXPECT_EQ(c.metric("berth_agent_frames_rate_limited_total"), 0) << "cut off for what it sent while held back";
  EXPECT_EQ(c.metric("berth_heartbeats_missed_total"), 0) << "dropped as silent while held back";
  EXPECT_EQ(c.node(a.node).value("status", ""), "online");
}

// A session that ends while the store refuses writes (locked past its 5 s busy timeout) still
// leaves its node unreachable once the store takes writes again, not "online" until a restart
// (found by the attack pass).
TEST(ServiceBacklogHeldBack, ASessionEndedWhileTheStoreIsLockedIsStoredOnceItIsNot) {
  Cluster c;
  c.startServer();
  std::optional<RawAgent> a(std::in_place, c, "leaving");
  const std::string node = a->node;
  ASSERT_EQ(c.node(node).value("status", ""), "online");
  {
    StoreLock lock(c);
    a.reset();  // the connection closes: the server ends the session and cannot store it
    std::this_thread::sleep_for(std::chrono::milliseconds(6500));
  }
  EXPECT_TRUE(eventually([&] { return c.node(node).value("status", "") == "unreachable"; }))
      << c.node(node).dump();
}

// The local metrics listener answers during a store stall (found by the attack pass: it waited on
// the stalled service thread), with the last figures and their age, then fresh ones again.
TEST(ServiceBacklogHeldBack, TheMetricsListenerAnswersDuringAStallWithTheLastFiguresAndTheirAge) {
  Cluster c;
  const std::string metricsAddress = "127.0.0.1:" + std::to_string(freePort());
  const std::string metricsUrl = "http://" + metricsAddress + "/metrics";
  c.startServer({"--metrics-listen", metricsAddress});
  auto scrape = [&] {
    auto out = runProcess({"curl", "-s", "-m", "8", "-w", "\nstatus %{http_code}", metricsUrl}, 10000);
    return out.ok() ? out->output : std::string();
  };
  const std::string fresh = scrape();
  ASSERT_NE(fresh.find("berth_metrics_age_seconds 0\n"), std::string::npos) << fresh.substr(0, 300);
  RawAgent a(c, "stalled");
  std::string stale;
  {
    StoreLock lock(c);
    a.telemetry(1);  // the next 1 s tick stores it and stalls there, waiting for the lock
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    stale = scrape();  // answered while the lock is still held (it is released below)
  }
  EXPECT_NE(stale.find("status 200"), std::string::npos) << stale.substr(0, 300);
  EXPECT_NE(stale.find("berth_http_requests_total"), std::string::npos) << "not the last figures";
  EXPECT_EQ(stale.find("berth_metrics_age_seconds 0\n"), std::string::npos) << "stale figures shown as fresh";
  EXPECT_NE(stale.find("berth_metrics_age_seconds "), std::string::npos);
  EXPECT_TRUE(eventually([&] { return scrape().find("berth_metrics_age_seconds 0\n") != std::string::npos; }));
}

}  // namespace
}  // namespace berth::itest
