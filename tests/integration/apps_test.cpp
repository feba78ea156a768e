// Apps from container images end to end. Servers started: berth server, one
// berth agent, and a private dockerd (DockerDaemon: vfs, a "berth-test"
// bridge network); images are busybox-static rootfs imports. Everything
// listens on loopback or the test daemon's own bridge.
#include <gtest/gtest.h>

#include <csignal>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "agent/traffic_control.hpp"
#include "common/subprocess.hpp"
#include "harness.hpp"
#include "pki/sealed_file.hpp"
#include "runtime/docker/log_stream.hpp"

namespace berth::itest {
namespace {

const std::vector<std::string> kHttpd = {"--arg", "/bin/busybox", "--arg", "httpd", "--arg", "-f", "--arg",
                                         "-p",    "--arg",        "8080",  "--arg", "-h", "--arg", "/www"};

std::string readTrimmed(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  return text;
}

// A cgroup v1/v2 file of the container whose init is `pid`, found through /proc/<pid>/cgroup.
std::string cgroupFile(int pid, const std::string& controller, const std::string& file) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    auto first = line.find(':'), second = line.find(':', first + 1);
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    if (controllers.find(controller) != std::string::npos) return readTrimmed("/sys/fs/cgroup/" + controller + path + "/" + file);
    if (controllers.empty()) {
      auto v2 = readTrimmed("/sys/fs/cgroup" + path + "/" + file);
      if (!v2.empty()) return v2;
    }
  }
  return "";
}

class AppsTest : public ::testing::Test {
 protected:
  std::unique_ptr<DockerDaemon> daemon;
  Cluster cluster;
  std::string nodeId;
  std::string v1, v2;  // image ids

  void SetUp() override {
    daemon = std::make_unique<DockerDaemon>();
    ASSERT_TRUE(daemon->ready());
    v1 = daemon->importBusybox("berth-test/web", "1", {{"/www/index.html", "version one\n"}});
    v2 = daemon->importBusybox("berth-test/web", "2", {{"/www/index.html", "version two\n"}});
    ASSERT_NE(v1, v2);
    cluster.startServer({"--telemetry-interval-s", "1"});
    nodeId = cluster.startOnlineAgent("a", agentFlags());
    ASSERT_FALSE(nodeId.empty());
  }
  void TearDown() override {
    stopAgent();  // before its dockerd goes, or it repairs what the teardown removes
    daemon.reset();
  }

  void stopAgent() {
    try {
      cluster.agent("a").signal(SIGTERM);
      cluster.agent("a").wait(std::chrono::seconds(20));
    } catch (const std::logic_error&) {  // never started
    }
  }

  std::vector<std::string> agentFlags() {
    return {"--docker-socket", daemon->socket, "--docker-network", "berth-test", "--reconcile-interval-s", "1",
            "--labels", "zone=test"};
  }

  std::pair<int, std::string> cli(std::vector<std::string> args) { return cluster.cli(args); }

  // busybox httpd serving /www on 8080, checked over HTTP unless `http_check` is false.
  std::vector<std::string> deployArgs(const std::string& app, const std::string& tag, std::vector<std::string> extra = {},
                                      bool http_check = true) {
    std::vector<std::string> args = {"app", "deploy", app, "--image", "berth-test/web:" + tag, "--port", "8080",
                                     "--health-interval", "300ms", "--health-timeout", "300ms"};
    if (http_check) args.insert(args.end(), {"--health", "http:/"});
    args.insert(args.end(), kHttpd.begin(), kHttpd.end());
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  std::vector<runtime::ContainerInfo> containers(const std::string& app) {
    std::vector<runtime::ContainerInfo> out;
    auto ids = daemon->docker->list({{"berth.app", app}});
    for (const auto& id : *ids) {
      if (auto info = daemon->docker->inspect(id); info && *info) out.push_back(**info);
    }
    return out;
  }

  // The app's one container; the replaced version's go right after the deploy answers, so wait for that.
  runtime::ContainerInfo only(const std::string& app) {
    std::vector<runtime::ContainerInfo> list;
    // An old container may take a while to stop on a loaded machine.
    eventually([&] { return (list = containers(app)).size() == 1; }, std::chrono::seconds(30));
    EXPECT_EQ(list.size(), 1u) << [&] {
      std::string seen;
      for (const auto& c : list) seen += c.name + " " + c.state + "; ";
      return seen + "\n" + cluster.agent("a").log();
    }();
    return list.empty() ? runtime::ContainerInfo{} : list.front();
  }

  // What the app's container answers on GET /.
  std::string page(const runtime::ContainerInfo& c) {
    auto r = runProcess({"curl", "-s", "-m", "3", "http://" + c.ip_address + ":8080/"}, 5000);
    return r ? r->output : "";
  }
};

TEST_F(AppsTest, DeployLimitsLifecycleRollbackAdoptionAndDrift) {
  auto [created, createOut] = cli({"app", "create", "web", "--node", nodeId});
  ASSERT_EQ(created, 0) << createOut;
  auto [deployed, deployOut] =
      cli(deployArgs("web", "1", {"--memory", "64m", "--cpu", "0.5", "--pids", "100", "-e", "GREETING=hi",
                                  "--secret", "API_TOKEN=s3cret-value"}));
  ASSERT_EQ(deployed, 0) << deployOut << cluster.agent("a").log();
  auto app = cluster.api("GET", "/api/v1/apps/web").body;
  EXPECT_EQ(app["current_deployment"], 1);
  EXPECT_EQ(app["current"]["state"], "healthy");
  EXPECT_EQ(app["current"]["image"], v1);  // pinned to the exact image
  EXPECT_EQ(app.dump().find("s3cret-value"), std::string::npos);

  auto c1 = only("web");
  EXPECT_EQ(c1.state, "running");
  EXPECT_EQ(c1.name, "berth-web-d1-0");
  EXPECT_EQ(c1.labels["berth.node"], nodeId);
  EXPECT_TRUE(c1.no_new_privileges);
  EXPECT_EQ(page(c1), "version one\n");
  EXPECT_EQ(cgroupFile(c1.pid, "memory", "memory.limit_in_bytes"), std::to_string(64 << 20));
  EXPECT_EQ(cgroupFile(c1.pid, "cpu", "cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(cgroupFile(c1.pid, "pids", "pids.max"), "100");
  // The secret reached the container and nothing on disk or in logs shows it.
  auto env = daemon->docker->request("GET", "/containers/" + c1.id + "/json");
  EXPECT_NE(env->body.find("API_TOKEN=s3cret-value"), std::string::npos);
  EXPECT_EQ(cluster.agent("a").log().find("s3cret-value"), std::string::npos);
  EXPECT_EQ(pki::readFile(cluster.serverDir() + "/berth.db")->find("s3cret-value"), std::string::npos);
  EXPECT_EQ(pki::readFile(cluster.agentDir("a") + "/apps.sealed")->find("s3cret-value"), std::string::npos);

  // Live limits: same container, same start, new cgroup values.
  auto [limited, limitOut] = cli({"app", "limits", "set", "web", "--memory", "128m", "--cpu", "1", "--pids", "200"});
  ASSERT_EQ(limited, 0) << limitOut;
  auto c1b = only("web");
  EXPECT_EQ(c1b.id, c1.id);
  EXPECT_EQ(c1b.started_at, c1.started_at);
  EXPECT_EQ(cgroupFile(c1b.pid, "memory", "memory.limit_in_bytes"), std::to_string(128 << 20));
  EXPECT_EQ(cgroupFile(c1b.pid, "cpu", "cpu.cfs_quota_us"), "100000");
  EXPECT_EQ(cgroupFile(c1b.pid, "pids", "pids.max"), "200");

  // A new version replaces the old one.
  ASSERT_EQ(cli(deployArgs("web", "2")).first, 0);
  auto c2 = only("web");
  EXPECT_EQ(c2.name, "berth-web-d2-0");
  EXPECT_EQ(page(c2), "version two\n");
  EXPECT_EQ(cluster.api("GET", "/api/v1/apps/web/deployments/1").body["state"], "superseded");

  // Rollback runs deployment 1's exact image again as deployment 3.
  auto [rolled, rollOut] = cli({"app", "rollback", "web"});
  ASSERT_EQ(rolled, 0) << rollOut;
  auto d3 = cluster.api("GET", "/api/v1/apps/web/deployments/3").body;
  EXPECT_EQ(d3["image"], v1);
  EXPECT_EQ(d3["source"], "rollback to 1");
  auto c3 = only("web");
  EXPECT_EQ(c3.image_id, v1);
  EXPECT_EQ(page(c3), "version one\n");

  // Scale runs more containers of the same config and image, and back.
  ASSERT_EQ(cli({"app", "scale", "web", "2"}).first, 0);
  std::vector<runtime::ContainerInfo> two;
  ASSERT_TRUE(eventually([&] { return (two = containers("web")).size() == 2; }));
  std::set<std::string> names;
  for (const auto& c : two) {
    EXPECT_EQ(c.state, "running");
    EXPECT_EQ(c.image_id, v1);
    names.insert(c.name);
  }
  EXPECT_EQ(names, (std::set<std::string>{"berth-web-d4-0", "berth-web-d4-1"}));
  ASSERT_EQ(cli({"app", "scale", "web", "1"}).first, 0);
  EXPECT_EQ(only("web").name, "berth-web-d5-0");

  // Stop is idempotent; start and restart bring it back.
  ASSERT_EQ(cli({"app", "stop", "web"}).first, 0);
  EXPECT_EQ(only("web").state, "exited");
  ASSERT_EQ(cli({"app", "stop", "web"}).first, 0);
  EXPECT_EQ(only("web").state, "exited");
  ASSERT_EQ(cli({"app", "start", "web"}).first, 0);
  auto started = only("web");
  EXPECT_EQ(started.state, "running");
  ASSERT_EQ(cli({"app", "restart", "web"}).first, 0);
  auto restarted = only("web");
  EXPECT_EQ(restarted.id, started.id);
  EXPECT_NE(restarted.started_at, started.started_at);

  // Restarting the agent does not restart the app.
  cluster.agent("a").signal(SIGTERM);
  ASSERT_EQ(cluster.agent("a").wait(std::chrono::seconds(20)), 0);
  ASSERT_EQ(cluster.startOnlineAgent("a", agentFlags()), nodeId);
  std::this_thread::sleep_for(std::chrono::seconds(3));  // a few reconcile passes
  auto adopted = only("web");
  EXPECT_EQ(adopted.id, restarted.id);
  EXPECT_EQ(adopted.started_at, restarted.started_at);

  // A container removed by hand comes back.
  ASSERT_TRUE(daemon->docker->remove(adopted.id, true).ok());
  ASSERT_TRUE(eventually([&] {
    auto list = containers("web");
    return list.size() == 1 && list[0].state == "running" && list[0].id != adopted.id;
  }, std::chrono::seconds(20))) << cluster.agent("a").log();
  EXPECT_TRUE(eventually([&] {
    return cluster.api("GET", "/api/v1/apps/web/events").body.dump().find("the container was removed") !=
           std::string::npos;
  }));

  // An unknown berth-labelled container is reported, not touched.
  runtime::ContainerSpec stray;
  stray.name = "stray";
  stray.image = "berth-test/web:1";
  stray.command = {"/bin/busybox", "sleep", "600"};
  stray.labels = {{"berth.managed", "1"}, {"berth.app", "ghost"}, {"berth.node", nodeId}};
  auto strayId = daemon->docker->create(stray);
  ASSERT_TRUE(strayId.ok());
  ASSERT_TRUE(daemon->docker->start(*strayId).ok());
  EXPECT_TRUE(eventually([&] {
    return cluster.agent("a").log().find("unknown_container") != std::string::npos;
  }));
  EXPECT_EQ((*daemon->docker->inspect(*strayId))->state, "running");

  // Delete removes the containers and the app.
  ASSERT_EQ(cli({"app", "delete", "web"}).first, 0);
  EXPECT_TRUE(containers("web").empty());
  EXPECT_EQ(cluster.apiResult("GET", "/api/v1/apps/web").error().code, "not_found");
}

TEST_F(AppsTest, FailuresLeaveTheRunningVersionUpAndBadInputIsRefused) {
  ASSERT_EQ(cli({"app", "create", "web", "--node", nodeId}).first, 0);
  ASSERT_EQ(cli(deployArgs("web", "1")).first, 0);
  const auto running = only("web");

  auto [missing, missingOut] = cli(deployArgs("web", "nope"));
  EXPECT_EQ(missing, 7) << missingOut;
  EXPECT_NE(missingOut.find("pull"), std::string::npos) << missingOut;
  auto d2 = cluster.api("GET", "/api/v1/apps/web/deployments/2").body;
  EXPECT_EQ(d2["state"], "failed");

  auto [unhealthy, unhealthyOut] =
      cli({"app", "deploy", "web", "--image", "berth-test/web:2", "--port", "8080", "--health", "http:/missing",
           "--health-interval", "200ms", "--health-timeout", "200ms", "--health-retries", "2", "--arg", "/bin/busybox",
           "--arg", "httpd", "--arg", "-f", "--arg", "-p", "--arg", "8080", "--arg", "-h", "--arg", "/www"});
  EXPECT_EQ(unhealthy, 7) << unhealthyOut;
  auto d3 = cluster.api("GET", "/api/v1/apps/web/deployments/3").body;
  EXPECT_EQ(d3["state"], "failed");
  EXPECT_NE(d3["reason"].get<std::string>().find("health check failed 2 times"), std::string::npos) << d3.dump();

  auto still = only("web");  // the healthy version never stopped
  EXPECT_EQ(still.id, running.id);
  EXPECT_EQ(still.started_at, running.started_at);
  EXPECT_EQ(cluster.api("GET", "/api/v1/apps/web").body["current_deployment"], 1);

  auto [disk, diskOut] = cli(deployArgs("web", "2", {"--disk", "100m"}));
  EXPECT_EQ(disk, 7) << diskOut;  // vfs has no per-container quota
  EXPECT_NE(diskOut.find("limits.disk: unsupported on this storage driver"), std::string::npos) << diskOut;

  // A command health check runs inside the container (argv, no shell); a failing one fails the deployment.
  auto [cmdOk, cmdOkOut] = cli(deployArgs("web", "2", {"--health", "cmd", "--health-cmd", "/bin/busybox",
                                                        "--health-cmd", "test", "--health-cmd", "-f",
                                                        "--health-cmd", "/www/index.html"},
                                       false));
  EXPECT_EQ(cmdOk, 0) << cmdOkOut;
  auto [cmdBad, cmdBadOut] = cli(deployArgs("web", "1", {"--health", "cmd", "--health-cmd", "/bin/busybox",
                                                         "--health-cmd", "false", "--health-retries", "1"},
                                        false));
  EXPECT_EQ(cmdBad, 7) << cmdBadOut;
  EXPECT_NE(cmdBadOut.find("command exited 1"), std::string::npos) << cmdBadOut;
  const int healthyNumber = cluster.api("GET", "/api/v1/apps/web").body["current_deployment"];

  auto [over, overOut] = cli(deployArgs("web", "2", {"--memory", "100000g"}));
  EXPECT_EQ(over, 5) << overOut;
  EXPECT_NE(overOut.find("limits.memory"), std::string::npos) << overOut;
  EXPECT_EQ(cluster.api("GET", "/api/v1/apps/web").body["deployments"].size(), 6u);  // none added for it
  EXPECT_EQ(cluster.api("GET", "/api/v1/apps/web").body["current_deployment"], healthyNumber);

  struct Bad {
    nlohmann::json body;
    std::string field;
  };
  const std::vector<Bad> bad = {
      {{{"image", "Upper/Case"}}, "'image'"},
      {{{"image", "x:1"}, {"env", {{"1BAD", "v"}}}}, "'env.1BAD'"},
      {{{"image", "x:1"}, {"volumes", {{"bad name", "/data"}}}}, "'volumes.bad name'"},
      {{{"image", "x:1"}, {"port", 70000}}, "'port'"},
      {{{"image", "x:1"}, {"limits", {{"memory", "12q"}}}}, "'limits.memory'"},
      {{{"image", "x:1"}, {"limits", {{"net_in", "fast"}}}}, "'limits.net_in'"},
      {{{"image", "x:1"}, {"port", 80}, {"health_check", {{"type", "http"}, {"interval", "soon"}}}},
       "'health_check.interval'"},
      {{{"image", "x:1"}, {"capabilities", {"SYS_GODMODE"}}}, "'capabilities'"},
      {{{"image", "x:1"}, {"colour", "blue"}}, "'colour'"},
  };
  for (const auto& b : bad) {
    auto r = cluster.apiResult("POST", "/api/v1/apps/web/deployments", b.body);
    ASSERT_FALSE(r.ok()) << b.body.dump();
    EXPECT_EQ(r.error().code, "invalid_argument") << b.body.dump();
    EXPECT_NE(r.error().message.find(b.field), std::string::npos) << r.error().message;
  }
  // Placement by node labels.
  ASSERT_EQ(cli({"app", "create", "placed", "--label", "zone=test"}).first, 0);
  ASSERT_EQ(cli(deployArgs("placed", "1")).first, 0);
  EXPECT_EQ(cluster.api("GET", "/api/v1/apps/placed").body["node_id"], nodeId);
  ASSERT_EQ(cli({"app", "create", "nowhere", "--label", "zone=mars"}).first, 0);
  auto [nowhere, nowhereOut] = cli(deployArgs("nowhere", "1"));
  EXPECT_EQ(nowhere, 5) << nowhereOut;
  EXPECT_NE(nowhereOut.find("zone"), std::string::npos) << nowhereOut;

  auto badName = cluster.apiResult("POST", "/api/v1/apps", {{"name", "Bad_Name"}});
  ASSERT_FALSE(badName.ok());
  EXPECT_NE(badName.error().message.find("'name'"), std::string::npos);
  EXPECT_EQ(cluster.api("GET", "/api/v1/apps/web").body["deployments"].size(), 6u);  // nothing half-applied

  // A slow deployment of one app does not hold up another app on the same node.
  auto [slowQueued, slowOut] = cli({"app", "deploy", "slow", "--image", "berth-test/web:1", "--port", "9999", "--health",
                                    "tcp", "--health-interval", "500ms", "--health-timeout", "100ms", "--health-retries",
                                    "40", "--detach", "--arg", "/bin/busybox", "--arg", "sleep", "--arg", "600"});
  ASSERT_EQ(slowQueued, 0) << slowOut;
  ASSERT_TRUE(eventually([&] {
    return cluster.api("GET", "/api/v1/apps/slow/deployments/1").body["state"] == "starting";
  }));
  ASSERT_EQ(cli(deployArgs("quick", "1")).first, 0);
  EXPECT_EQ(cluster.api("GET", "/api/v1/apps/slow/deployments/1").body["state"], "starting");  // still probing
}

TEST_F(AppsTest, LogsFollowLiveAndBandwidthLimitsReachTc) {
  ASSERT_EQ(cli({"app", "create", "talker", "--node", nodeId}).first, 0);
  auto [deployed, out] = cli({"app", "deploy", "talker", "--image", "berth-test/web:1", "--net-in", "10mbit",
                              "--net-out", "5mbit", "--read-only", "--user", "65534:65534", "-v", "state:/data", "--arg", "/bin/busybox", "--arg", "sh", "--arg", "-c", "--arg",
                              "i=0; while true; do echo line $i; echo oops $i >&2; i=$((i+1)); sleep 0.2; done"});
  ASSERT_EQ(deployed, 0) << out << cluster.agent("a").log();
  auto c = only("talker");
  EXPECT_TRUE(c.read_only_root);
  EXPECT_EQ(c.user, "65534:65534");
  {
    std::ifstream status("/proc/" + std::to_string(c.pid) + "/status");
    std::string line;
    while (std::getline(status, line) && line.rfind("Uid:", 0) != 0) {
    }
    EXPECT_NE(line.find("65534"), std::string::npos) << line;  // not root inside
  }
  ASSERT_EQ(daemon->docker->request("GET", "/volumes/berth-talker-state")->status, 200);

  auto veth = agent::hostInterfaceOf(c.pid);
  ASSERT_TRUE(veth.ok()) << veth.error().message;
  auto in = runProcess({"tc", "qdisc", "show", "dev", *veth}, 5000);
  EXPECT_NE(in->output.find("rate 10Mbit"), std::string::npos) << in->output;
  auto outside = runProcess({"nsenter", "-t", std::to_string(c.pid), "-n", "tc", "qdisc", "show", "dev", "eth0"}, 5000);
  EXPECT_NE(outside->output.find("rate 5Mbit"), std::string::npos) << outside->output;
  ASSERT_EQ(cli({"app", "limits", "set", "talker", "--net-in", "20mbit"}).first, 0);
  EXPECT_NE(runProcess({"tc", "qdisc", "show", "dev", *veth}, 5000)->output.find("rate 20Mbit"), std::string::npos);
  EXPECT_EQ(only("talker").started_at, c.started_at);

  // Lines arrive with their stream; the cursor pages forward.
  ASSERT_TRUE(eventually([&] {
    auto logs = cluster.api("GET", "/api/v1/apps/talker/logs").body;
    return logs["lines"].dump().find("line 3") != std::string::npos;
  }, std::chrono::seconds(20))) << cluster.agent("a").log();
  auto first = cluster.api("GET", "/api/v1/apps/talker/logs").body;
  bool sawStderr = false;
  for (const auto& l : first["lines"]) sawStderr |= l["stream"] == "stderr" && l["text"].get<std::string>().rfind("oops", 0) == 0;
  EXPECT_TRUE(sawStderr);
  const auto cursor = first["cursor"].get<std::int64_t>();
  nlohmann::json next;
  ASSERT_TRUE(eventually([&] {
    next = cluster.api("GET", "/api/v1/apps/talker/logs?after=" + std::to_string(cursor)).body;
    return !next["lines"].empty() && next["lines"][0]["seq"].get<std::int64_t>() > cursor;
  })) << cursor << " " << next.dump().substr(0, 400);

  // --since keeps only recent lines.
  auto [recentCode, recent] = cli({"logs", "talker", "--since", "1ms"});
  ASSERT_EQ(recentCode, 0);
  auto [allCode, all] = cli({"logs", "talker"});
  auto count = [](const std::string& text) { return std::count(text.begin(), text.end(), '\n'); };
  EXPECT_GE(count(all), 10);
  EXPECT_LT(count(recent), 5) << recent;

  // berth logs -f keeps printing lines written after it started.
  auto [printed, text] = cli({"logs", "talker"});
  ASSERT_EQ(printed, 0);
  int highest = 0;
  for (std::size_t at = text.find("line "); at != std::string::npos; at = text.find("line ", at + 1))
    highest = std::max(highest, std::atoi(text.c_str() + at + 5));
  auto follower = Process::spawn({BERTH_BINARY, "logs", "-f", "talker", "--server", cluster.url(), "--api-key",
                                  cluster.apiKey(), "--ca-file", cluster.caFile()},
                                 cluster.root() + "/follow.log");
  const std::string later = "line " + std::to_string(highest + 5);
  EXPECT_TRUE(eventually([&] { return follower->log().find(later) != std::string::npos; }, std::chrono::seconds(20)))
      << follower->log();
  follower->signal(SIGTERM);
  follower->wait(std::chrono::seconds(5));

  // After an agent restart the lines keep coming (followed again from the agent's start).
  cluster.agent("a").signal(SIGTERM);
  ASSERT_EQ(cluster.agent("a").wait(std::chrono::seconds(20)), 0);
  const auto beforeRestart = cluster.api("GET", "/api/v1/apps/talker/logs?limit=5000").body["cursor"].get<std::int64_t>();
  ASSERT_EQ(cluster.startOnlineAgent("a", agentFlags()), nodeId);
  EXPECT_TRUE(eventually([&] {
    auto fresh = cluster.api("GET", "/api/v1/apps/talker/logs?after=" + std::to_string(beforeRestart)).body;
    return fresh["lines"].size() >= 4;
  }, std::chrono::seconds(20))) << cluster.agent("a").log();

  // The server counts what it stored.
  const std::string metrics = runProcess({"curl", "-s", "--cacert", cluster.caFile(), "-H",
                                          "Authorization: Bearer " + cluster.apiKey(), cluster.url() + "/metrics"},
                                         5000)->output;
  EXPECT_NE(metrics.find("berth_deployments_finished_total{state=\"healthy\"} 1"), std::string::npos) << metrics;
  const auto lines = metrics.find("\nberth_app_log_lines_total ");
  ASSERT_NE(lines, std::string::npos) << metrics;
  EXPECT_GT(std::atoll(metrics.c_str() + lines + 27), 10);

  // Container figures join the node's telemetry.
  nlohmann::json latest;
  EXPECT_TRUE(eventually([&] {
    latest = cluster.api("GET", "/api/v1/nodes/" + nodeId + "/telemetry").body["latest"];
    if (!latest.is_object() || !latest["data"].contains("containers")) return false;
    for (const auto& c : latest["data"]["containers"]) {
      if (c["app"] == "talker" && c["memory_bytes"].get<std::int64_t>() > 0 && c.contains("net_rx_bytes") &&
          c.contains("block_read_bytes") && c.contains("cpu_percent"))
        return true;
    }
    return false;
  }, std::chrono::seconds(20))) << latest.dump().substr(0, 500);

  // berth app show lists what runs, from that telemetry. (From the newest sample only: one
  // taken while dockerd was slow may lack the figures, so look again.)
  std::string showOut;
  EXPECT_TRUE(eventually([&] {
    const auto shownApi = cluster.api("GET", "/api/v1/apps/talker");
    if (shownApi.body["containers"].empty() || shownApi.body["containers"][0]["app"] != "talker") return false;
    auto [shown, out] = cli({"app", "show", "talker"});
    showOut = out;
    return shown == 0 && out.find("REPLICA") != std::string::npos;
  }, std::chrono::seconds(10))) << showOut;

  // The same as server-sent events a browser can read.
  auto sse = runProcess({"curl", "-sN", "-m", "3", "--cacert", cluster.caFile(), "-H",
                         "Authorization: Bearer " + cluster.apiKey(), cluster.url() + "/api/v1/apps/talker/logs?follow=1"},
                        6000);
  ASSERT_TRUE(sse.ok());
  EXPECT_NE(sse->output.find("event: log"), std::string::npos) << sse->output.substr(0, 300);
  EXPECT_NE(sse->output.find("line "), std::string::npos);
  // A reconnect with Last-Event-ID resumes after that line.
  const auto firstId = sse->output.substr(sse->output.find("id: ") + 4, sse->output.find('\n') - 4);
  auto resumed = runProcess({"curl", "-sN", "-m", "2", "--cacert", cluster.caFile(), "-H",
                             "Authorization: Bearer " + cluster.apiKey(), "-H", "Last-Event-ID: " + firstId,
                             cluster.url() + "/api/v1/apps/talker/logs?follow=1"},
                            5000);
  ASSERT_TRUE(resumed.ok());
  const auto resumedFirst = std::stoll(resumed->output.substr(resumed->output.find("id: ") + 4));
  EXPECT_EQ(resumedFirst, std::stoll(firstId) + 1) << resumed->output.substr(0, 200);

  // berth logs shows the newest 100 lines by default; --tail N the newest N; --tail all everything.
  ASSERT_TRUE(eventually([&] {
    return cluster.api("GET", "/api/v1/apps/talker/logs?limit=5000").body["lines"].size() > 110;
  }, std::chrono::seconds(60)));
  auto [tailCode, tailed] = cli({"logs", "talker"});
  ASSERT_EQ(tailCode, 0) << tailed;
  EXPECT_EQ(count(tailed), 100) << tailed.substr(0, 300);
  auto [threeCode, three] = cli({"logs", "talker", "--tail", "3"});
  ASSERT_EQ(threeCode, 0) << three;
  EXPECT_EQ(count(three), 3) << three;
  auto [allLinesCode, allLines] = cli({"logs", "talker", "--tail", "all"});
  ASSERT_EQ(allLinesCode, 0);
  EXPECT_GT(count(allLines), 110);
  EXPECT_NE(allLines.find("line 0\n"), std::string::npos);  // from the very first line
  auto newest = cluster.api("GET", "/api/v1/apps/talker/logs?tail=2").body;
  ASSERT_EQ(newest["lines"].size(), 2u);
  EXPECT_LT(newest["lines"][0]["seq"].get<std::int64_t>(), newest["lines"][1]["seq"].get<std::int64_t>());
  EXPECT_EQ(newest["cursor"], newest["lines"][1]["seq"]);
  EXPECT_EQ(cluster.apiResult("GET", "/api/v1/apps/talker/logs?tail=lots").error().code, "invalid_argument");

  // Delete --volumes takes the named volume too.
  ASSERT_EQ(cli({"app", "delete", "talker", "--volumes"}).first, 0);
  EXPECT_EQ(daemon->docker->request("GET", "/volumes/berth-talker-state")->status, 404);
}

TEST_F(AppsTest, SecretsThatCannotBeOpenedFailTheDeploymentInsteadOfDeployingWithout) {
  ASSERT_EQ(cli({"app", "create", "web", "--node", nodeId}).first, 0);
  cluster.agent("a").signal(SIGTERM);  // offline: the deployment waits in the queue, sealed
  ASSERT_EQ(cluster.agent("a").wait(std::chrono::seconds(20)), 0);
  auto [queued, out] = cli(deployArgs("web", "1", {"--secret", "API_TOKEN=s3cret", "--detach"}));
  ASSERT_EQ(queued, 0) << out;
  // The server comes back with a different secrets key (a lost or replaced data directory).
  cluster.killServer(SIGTERM);
  ASSERT_TRUE(std::filesystem::remove(cluster.serverDir() + "/pki/secrets.key"));
  cluster.startServer({"--telemetry-interval-s", "1"});
  ASSERT_EQ(cluster.startOnlineAgent("a", agentFlags()), nodeId);
  nlohmann::json d1;
  ASSERT_TRUE(eventually([&] {
    d1 = cluster.api("GET", "/api/v1/apps/web/deployments/1").body;
    return d1["state"] == "failed";
  })) << d1.dump();
  EXPECT_NE(d1["reason"].get<std::string>().find("secrets_unavailable"), std::string::npos) << d1.dump();
  EXPECT_TRUE(containers("web").empty());

  // An app whose node is away can still be forgotten with --force; the node cleans up when it is back.
  ASSERT_EQ(cli(deployArgs("web", "1")).first, 0);
  cluster.agent("a").signal(SIGTERM);
  ASSERT_EQ(cluster.agent("a").wait(std::chrono::seconds(20)), 0);
  auto [forced, forcedOut] = cli({"app", "delete", "web", "--force"});
  EXPECT_EQ(forced, 0) << forcedOut;
  EXPECT_EQ(cluster.apiResult("GET", "/api/v1/apps/web").error().code, "not_found");
  ASSERT_EQ(cluster.startOnlineAgent("a", agentFlags()), nodeId);
  EXPECT_TRUE(eventually([&] { return containers("web").empty(); }, std::chrono::seconds(20)));
}

TEST_F(AppsTest, ALeftoverContainerUnderTheNextDeploymentsNameIsReplacedNotAdopted) {
  ASSERT_EQ(cli({"app", "create", "web", "--node", nodeId}).first, 0);
  ASSERT_EQ(cli(deployArgs("web", "1")).first, 0);
  const auto d1 = cluster.api("GET", "/api/v1/apps/web/deployments/1").body;
  ASSERT_EQ(d1["deployment_id"].get<std::string>().rfind("dep_", 0), 0u) << d1.dump();
  EXPECT_EQ(only("web").labels["berth.deployment_id"], d1["deployment_id"]);

  // A deployment 2 of VERSION two ran once and the server lost its record (a failed write), so the
  // next deploy gets number 2 again. No reconcile pass runs meanwhile (it would remove the leftover).
  stopAgent();
  ASSERT_EQ(cluster.startOnlineAgent("a", {"--docker-socket", daemon->socket, "--docker-network", "berth-test",
                                           "--reconcile-interval-s", "3600"}),
            nodeId);
  runtime::ContainerSpec leftover;
  leftover.name = "berth-web-d2-0";
  leftover.image = v2;
  leftover.command = {"/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"};
  leftover.network = "berth-test";
  leftover.container_port = 8080;
  leftover.labels = {{"berth.managed", "1"}, {"berth.app", "web"},      {"berth.deployment", "2"},
                     {"berth.replica", "0"}, {"berth.node", nodeId},    {"berth.deployment_id", "dep_lost"}};
  auto stale = daemon->docker->create(leftover);
  ASSERT_TRUE(stale.ok()) << stale.error().message;
  auto started = daemon->docker->start(*stale);
  ASSERT_TRUE(started.ok()) << started.error().message << cluster.agent("a").log();

  auto [deployed, out] = cli(deployArgs("web", "1"));
  ASSERT_EQ(deployed, 0) << out << cluster.agent("a").log();
  const auto d2 = cluster.api("GET", "/api/v1/apps/web/deployments/2").body;
  EXPECT_EQ(d2["state"], "healthy") << d2.dump();
  EXPECT_NE(d2["deployment_id"], d1["deployment_id"]);
  auto running = only("web");
  EXPECT_NE(running.id, *stale);  // replaced, not adopted
  EXPECT_EQ(running.labels["berth.deployment_id"], d2["deployment_id"]);
  EXPECT_EQ(running.image_id, v1);
  EXPECT_EQ(page(running), "version one\n");  // what was deployed, not the leftover's VERSION two
}

TEST_F(AppsTest, PublishedPortsBindLoopbackUnlessPublicAndCapabilitiesNeedTheServersAllowlist) {
  ASSERT_EQ(cli({"app", "create", "web", "--node", nodeId}).first, 0);
  const std::string gateway = daemon->networkGateway();
  ASSERT_FALSE(gateway.empty());
  const int port = 20000 + ::getpid() % 20000;
  auto fetch = [&](const std::string& host) {
    auto r = runProcess({"curl", "-s", "-m", "2", "http://" + host + ":" + std::to_string(port) + "/"}, 5000);
    return r ? r->output : "";
  };
  ASSERT_EQ(cli(deployArgs("web", "1", {"--publish", std::to_string(port)})).first, 0);
  EXPECT_TRUE(eventually([&] { return fetch("127.0.0.1") == "version one\n"; }));
  EXPECT_EQ(fetch(gateway), "");  // a host address other than loopback: nothing listens there
  auto [pub, pubOut] = cli(deployArgs("web", "2", {"--publish", std::to_string(port), "--publish-public"}));
  ASSERT_EQ(pub, 0) << pubOut;
  EXPECT_TRUE(eventually([&] { return fetch(gateway) == "version two\n"; }));

  // Capabilities beyond Docker's default set are refused before anything is queued...
  const auto before = cluster.api("GET", "/api/v1/apps/web").body["deployments"].size();
  auto [refused, refusedOut] = cli(deployArgs("web", "1", {"--cap", "SYS_PTRACE"}));
  EXPECT_EQ(refused, 2) << refusedOut;  // invalid_argument
  EXPECT_NE(refusedOut.find("capabilities"), std::string::npos) << refusedOut;
  EXPECT_NE(refusedOut.find("allowed_capabilities"), std::string::npos) << refusedOut;
  EXPECT_EQ(cluster.api("GET", "/api/v1/apps/web").body["deployments"].size(), before);
  EXPECT_EQ(cli(deployArgs("web", "1", {"--cap", "NET_BIND_SERVICE"})).first, 0);  // in the default set
  // ...and SYS_PTRACE, which gives the host away, still needs the org's allowance
  // once the server's allowed_capabilities lists it...
  cluster.killServer(SIGTERM);
  cluster.startServer({"--telemetry-interval-s", "1", "--allowed-capabilities", "SYS_PTRACE"});
  ASSERT_TRUE(eventually([&] { return cluster.node(nodeId).value("status", "") == "online"; }));
  auto [withoutAllowance, withoutOut] = cli(deployArgs("web", "1", {"--cap", "SYS_PTRACE"}));
  EXPECT_NE(withoutAllowance, 0) << withoutOut;
  EXPECT_NE(withoutOut.find("gives the host away"), std::string::npos) << withoutOut;
  EXPECT_EQ(cluster.api("GET", "/api/v1/apps/web").body["deployments"].size(), before + 1);
  // ...which a platform admin gives; then the container runs with it.
  auto [policy, policyOut] = cli({"org", "policy", "set", "default", "--allow-cap", "SYS_PTRACE"});
  ASSERT_EQ(policy, 0) << policyOut;
  auto [allowed, allowedOut] = cli(deployArgs("web", "1", {"--cap", "SYS_PTRACE"}));
  EXPECT_EQ(allowed, 0) << allowedOut;
}

TEST_F(AppsTest, LinesWrittenWhileTheAgentIsStoppedArriveAfterItStarts) {
  ASSERT_EQ(cli({"app", "create", "ticker", "--node", nodeId}).first, 0);
  auto [deployed, out] = cli({"app", "deploy", "ticker", "--image", "berth-test/web:1", "--arg", "/bin/busybox",
                              "--arg", "sh", "--arg", "-c", "--arg",
                              "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"});
  ASSERT_EQ(deployed, 0) << out;
  auto ticks = [&](const std::string& text) {
    std::set<int> seen;
    for (auto at = text.find("tick "); at != std::string::npos; at = text.find("tick ", at + 1))
      seen.insert(std::atoi(text.c_str() + at + 5));
    return seen;
  };
  auto shipped = [&] { return ticks(cluster.api("GET", "/api/v1/apps/ticker/logs?limit=5000").body.dump()); };
  ASSERT_TRUE(eventually([&] { return shipped().count(5) > 0; }, std::chrono::seconds(20))) << cluster.agent("a").log();
  stopAgent();
  const int lastShipped = *shipped().rbegin();
  // The container keeps writing while the agent is away; wait until Docker holds 10 more lines.
  const auto id = only("ticker").id;
  auto held = [&] {
    auto r = daemon->docker->request("GET", "/containers/" + id + "/logs?stdout=1&tail=5");
    std::string text;
    if (r) {
      runtime::docker::LogDemuxer demuxer;
      for (const auto& l : demuxer.feed(r->body)) text += l.text + "\n";
    }
    return ticks(text);
  };
  ASSERT_TRUE(eventually([&] { auto h = held(); return !h.empty() && *h.rbegin() >= lastShipped + 10; }));
  ASSERT_EQ(cluster.startOnlineAgent("a", agentFlags()), nodeId);
  ASSERT_TRUE(eventually([&] { return shipped().count(lastShipped + 10) > 0; }, std::chrono::seconds(20)))
      << cluster.agent("a").log();
  const auto all = shipped();
  for (int i = 0; i <= lastShipped + 10; ++i) EXPECT_TRUE(all.count(i)) << "tick " << i << " never arrived";
  const auto cursorFile = cluster.agentDir("a") + "/log_cursors.json";
  ASSERT_TRUE(std::filesystem::exists(cursorFile));
  EXPECT_EQ(std::filesystem::status(cursorFile).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST_F(AppsTest, DockerdDownIsSaidOnceAndTheAppsStateIsDerivedAgainWhenItReturns) {
  ASSERT_EQ(cli({"app", "create", "web", "--node", nodeId}).first, 0);
  ASSERT_EQ(cli(deployArgs("web", "1")).first, 0);
  auto eventsOf = [&](const std::string& state, const std::string& reasonPart = "") {
    int n = 0;
    for (const auto& e : cluster.api("GET", "/api/v1/apps/web/events?limit=1000").body) {
      if ((state.empty() || e["state"] == state) &&
          e["reason"].get<std::string>().find(reasonPart) != std::string::npos)
        ++n;
    }
    return n;
  };
  daemon->stop();
  ASSERT_TRUE(eventually([&] { return eventsOf("runtime_unreachable") > 0; }, std::chrono::seconds(20)))
      << cluster.agent("a").log();
  // A restart asked for during the outage is refused...
  auto [restart, restartOut] = cli({"app", "restart", "web"});
  EXPECT_NE(restart, 0) << restartOut;
  ASSERT_TRUE(eventually([&] {
    return cluster.api("GET", "/api/v1/apps/web/deployments/1").body["state"] == "failed";
  }));
  // ...and several reconcile passes later the outage is still one event, no "removed" storm.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  EXPECT_EQ(eventsOf("runtime_unreachable"), 1);
  EXPECT_EQ(eventsOf("", "the container was removed"), 0);

  ASSERT_TRUE(daemon->start()) << daemon->log_path;
  // Back: the app serves, and its state says so again (not `failed` for good).
  ASSERT_TRUE(eventually([&] {
    return cluster.api("GET", "/api/v1/apps/web/deployments/1").body["state"] == "healthy";
  }, std::chrono::seconds(60))) << cluster.api("GET", "/api/v1/apps/web/events").body.dump();
  EXPECT_TRUE(eventually([&] { return page(only("web")) == "version one\n"; }, std::chrono::seconds(30)));
  EXPECT_EQ(eventsOf("runtime_reachable"), 1);
  EXPECT_EQ(eventsOf("", "the container was removed"), 0);
}

TEST_F(AppsTest, DeleteWithVolumesRemovesEveryVolumeAnyDeploymentDeclared) {
  ASSERT_EQ(cli({"app", "create", "web", "--node", nodeId}).first, 0);
  ASSERT_EQ(cli(deployArgs("web", "1", {"-v", "data:/data"})).first, 0);
  ASSERT_EQ(cli(deployArgs("web", "2", {"-v", "cache:/cache"})).first, 0);
  for (const char* v : {"berth-web-data", "berth-web-cache"})
    ASSERT_EQ(daemon->docker->request("GET", std::string("/volumes/") + v)->status, 200) << v;
  auto [deleted, out] = cli({"app", "delete", "web", "--volumes"});
  ASSERT_EQ(deleted, 0) << out;
  EXPECT_EQ(daemon->docker->request("GET", "/volumes/berth-web-cache")->status, 404);
  EXPECT_EQ(daemon->docker->request("GET", "/volumes/berth-web-data")->status, 404);  // the earlier deployment's
}

}  // namespace
}  // namespace berth::itest
