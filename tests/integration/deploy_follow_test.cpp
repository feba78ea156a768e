// What `berth app deploy` prints while it waits (issue 11): the CLI binary run
// as a user runs it, its output a file (so the plain mode, not the terminal's
// live display). A deploy from git prints its build's lines live, each once and
// in order, then the deployment's states; a failing build prints the failing
// step and its last lines and exits non-zero. An image deploy prints one line
// per layer state of its pull. Servers started: berth server and agent, a
// private dockerd, nginx + fcgiwrap running git http-backend over TLS with basic
// auth, and (for the pull) Debian's docker-registry on a free loopback port.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/subprocess.hpp"
#include "git_servers.hpp"
#include "harness.hpp"
#include "proxy_support.hpp"

namespace berth::itest {
namespace {

constexpr const char* kGitToken = "tok-follow-secret";

std::vector<std::string> linesOf(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

int countLines(const std::vector<std::string>& lines, const std::string& exact) {
  return static_cast<int>(std::count(lines.begin(), lines.end(), exact));
}

// The index of the first line containing `part`, or -1.
int indexOf(const std::vector<std::string>& lines, const std::string& part) {
  for (std::size_t i = 0; i < lines.size(); ++i)
    if (lines[i].find(part) != std::string::npos) return static_cast<int>(i);
  return -1;
}

// Runs `argv` on a new pseudo-terminal (100x40) with `env` added; its exit code and all it wrote.
std::pair<int, std::string> onTerminal(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  std::vector<std::string> envStrings(env);
  for (char** e = environ; *e; ++e) envStrings.emplace_back(*e);  // the first of a name wins in getenv
  std::vector<char*> args, envp;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const auto& e : envStrings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  winsize size{};
  size.ws_col = 100;
  size.ws_row = 40;
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, &size);
  if (pid < 0) return {-1, "forkpty failed"};
  if (pid == 0) {
    ::closefrom(3);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    char buffer[4096];
    const auto n = ::read(master, buffer, sizeof buffer);
    if (n <= 0) break;  // EIO once the program has exited and the terminal is closed
    out.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(master);
  int status = 0;
  if (std::chrono::steady_clock::now() >= deadline) ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

class DeployFollowTest : public ::testing::Test {
 protected:
  std::unique_ptr<DockerDaemon> daemon;
  Cluster cluster;

  void startAgent(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> flags = {"--docker-socket", daemon->socket,           "--docker-network",
                                      "berth-test",      "--reconcile-interval-s", "1"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    ASSERT_FALSE(cluster.startOnlineAgent("a", flags).empty());
  }
  void TearDown() override {
    try {
      cluster.agent("a").signal(SIGTERM);
      cluster.agent("a").wait(std::chrono::seconds(20));
    } catch (const std::logic_error&) {
    }
    daemon.reset();
  }
  // `berth <args>` as a user runs it (Cluster::cli's limit is too short for a build); code and output.
  std::pair<int, std::string> berth(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {BERTH_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    const std::string log = cluster.root() + "/follow-" + std::to_string(++runs_) + ".log";
    auto p = Process::spawn(argv, log, {"BERTH_CLI_CONFIG=" + cluster.serverDir() + "/cli.json", "TERM=xterm"});
    const int code = p->wait(std::chrono::seconds(240));
    return {code, p->log()};
  }

 private:
  int runs_ = 0;
};

TEST_F(DeployFollowTest, ABuildsLinesStreamOnceInOrderAndAFailingBuildNamesItsStep) {
  daemon = std::make_unique<DockerDaemon>();
  ASSERT_TRUE(daemon->ready());
  ASSERT_FALSE(daemon->importBusybox("berth-test/base", "1").empty());
  const std::string dir = daemon->root + "/source";
  std::filesystem::create_directories(dir + "/repos");
  HttpsGitServer git(dir + "/https", dir + "/repos", "x-access-token", kGitToken);
  ASSERT_TRUE(git.ready()) << git.log();
  GitRepo repo(dir + "/repos", "shop");
  cluster.startServer();
  startAgent({"--git-ca-file", git.caFile(), "--build-memory", "512m"});

  // Each RUN prints a line its command does not spell out, so the output is told from the step line.
  repo.commit({{"Dockerfile",
                "FROM berth-test/base:1\n"
                "RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo first-$((6*7))\"]\n"
                "RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo second-$((6*7)); echo third-$((6*7))\"]\n"
                "CMD [\"/bin/busybox\", \"sleep\", \"3600\"]\n"}});
  ::setenv("BERTH_FOLLOW_GIT_TOKEN", kGitToken, 1);
  auto [code, out] = berth({"app", "deploy", "web", "--git", git.url("shop"), "--ref", "main", "--token-env",
                            "BERTH_FOLLOW_GIT_TOKEN", "--follow"});
  ::unsetenv("BERTH_FOLLOW_GIT_TOKEN");
  ASSERT_EQ(code, 0) << out << cluster.agent("a").log();
  auto lines = linesOf(out);
  for (const char* line : {"first-42", "second-42", "third-42"})
    EXPECT_EQ(countLines(lines, line), 1) << line << "\n" << out;
  // (berth adds its LABEL steps after the Dockerfile's: "Step 1/6".)
  const int step1 = indexOf(lines, "Step 1/");
  const int first = indexOf(lines, "first-42"), second = indexOf(lines, "second-42"),
            third = indexOf(lines, "third-42");
  const int step3 = indexOf(lines, "Step 3/");
  const int healthy = indexOf(lines, "web deployment 1 is healthy");
  ASSERT_GE(step1, 0) << out;
  EXPECT_NE(lines[step1].find(" : FROM berth-test/base:1"), std::string::npos) << out;
  EXPECT_LT(step1, first) << out;
  EXPECT_LT(first, step3) << out;
  EXPECT_LT(step3, second) << out;
  EXPECT_LT(second, third) << out;
  EXPECT_LT(third, healthy) << out;
  // The lines come before the states that followed the build (the node sends them first).
  const int starting = indexOf(lines, "web deployment 1: starting");
  if (starting >= 0) EXPECT_LT(third, starting) << out;
  // Every build line the log holds for the deployment was printed, once.
  const auto logged = cluster.api("GET", "/api/v1/apps/web/logs?limit=5000").body["lines"];
  int buildLines = 0;
  for (const auto& l : logged) {
    if (l.value("stream", "") != "build" || l.value("deployment", 0) != 1) continue;
    ++buildLines;
    EXPECT_GE(countLines(lines, l.value("text", "")), 1) << l.dump() << "\n" << out;
  }
  EXPECT_GT(buildLines, 4);

  // A build that fails at its second step: the step and its last lines, a non-zero exit, and
  // none of the first deployment's lines again.
  repo.commit({{"Dockerfile",
                "FROM berth-test/base:1\n"
                "RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo broke-$((6*7)); exit 7\"]\n"}});
  std::tie(code, out) = berth({"app", "deploy", "web", "--git", git.url("shop"), "--ref", "main", "--follow"});
  EXPECT_EQ(code, 7) << out;  // exit_code::kCommandFailed (docs/cli.md)
  lines = linesOf(out);
  EXPECT_EQ(countLines(lines, "broke-42"), 1) << out;  // streamed once (the report's copy is indented)
  EXPECT_EQ(countLines(lines, "first-42"), 0) << out;
  const int failedAt = indexOf(lines, "the build failed at Step 2/");
  ASSERT_GE(failedAt, 0) << out;
  EXPECT_NE(lines[failedAt].find(" : RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo broke-"), std::string::npos) << out;
  EXPECT_EQ(lines[failedAt].rfind("error: ", 0), 0u) << out;
  EXPECT_LT(indexOf(lines, "broke-42"), failedAt) << out;
  EXPECT_GE(indexOf(lines, "last lines:"), failedAt) << out;
  EXPECT_GT(countLines(lines, "  broke-42"), 0) << out;
  EXPECT_EQ(cluster.api("GET", "/api/v1/apps/web").body["current_deployment"], 1);

  // --follow and --detach contradict each other.
  std::tie(code, out) = berth({"app", "deploy", "web", "--git", git.url("shop"), "--follow", "--detach"});
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("excludes"), std::string::npos) << out;
}

TEST_F(DeployFollowTest, AnImagePullPrintsOneLinePerLayerState) {
  if (!std::filesystem::exists("/usr/bin/docker-registry")) GTEST_FAIL() << "setup.sh installs docker-registry";
  daemon = std::make_unique<DockerDaemon>();
  ASSERT_TRUE(daemon->ready());
  const std::string dir = daemon->root + "/registry";
  std::filesystem::create_directories(dir + "/data");
  const std::string host = "127.0.0.1:" + std::to_string(freePort());
  std::ofstream(dir + "/config.yml") << "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: " << dir
                                     << "/data\nhttp:\n  addr: " << host << "\n";
  auto registry = Process::spawn({"/usr/bin/docker-registry", "serve", dir + "/config.yml"}, dir + "/registry.log");
  ASSERT_TRUE(eventually([&] {
    auto up = runProcess({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://" + host + "/v2/"}, 3000);
    return up && up->output == "200";
  })) << registry->log();
  // An image with one incompressible layer (big enough to take a moment), pushed and forgotten
  // locally so a deploy has to pull it.
  auto publish = [&](const std::string& tag, std::uint32_t seed) {
    std::string noise(3 << 20, '\0');
    for (auto& c : noise) {
      seed ^= seed << 13, seed ^= seed >> 17, seed ^= seed << 5;
      c = static_cast<char>(seed);
    }
    ASSERT_FALSE(daemon->importBusybox("berth-test/pulled", tag, {{"/www/big", noise}}).empty());
    auto tagged = daemon->docker->request(
        "POST", "/images/berth-test/pulled:" + tag + "/tag?repo=" + host + "/pulled&tag=" + tag);
    ASSERT_TRUE(tagged.ok() && tagged->status == 201);
    auto pushed = daemon->docker->request("POST", "/images/" + host + "/pulled/push?tag=" + tag, "", "application/json",
                                          {{"X-Registry-Auth", "e30="}}, 120);
    ASSERT_TRUE(pushed.ok() && pushed->status == 200 && pushed->body.find("error") == std::string::npos)
        << (pushed ? pushed->body : pushed.error().message);
    (void)daemon->docker->request("DELETE", "/images/" + host + "/pulled:" + tag);
    (void)daemon->docker->request("DELETE", "/images/berth-test/pulled:" + tag + "?force=1");
  };
  publish("1", 88172645u);
  publish("2", 2463534242u);
  cluster.startServer();
  startAgent();

  auto [code, out] = berth({"app", "deploy", "web", "--image", host + "/pulled:1", "--arg", "/bin/busybox", "--arg",
                            "sleep", "--arg", "3600", "--follow"});
  ASSERT_EQ(code, 0) << out << cluster.agent("a").log();
  const auto lines = linesOf(out);
  std::vector<std::string> pulls;
  std::set<std::string> layers, complete;
  for (const auto& l : lines) {
    if (l.rfind("pull web: layer ", 0) != 0) continue;
    pulls.push_back(l);
    std::istringstream words(l.substr(16));
    std::string id, state;
    words >> id >> state;
    layers.insert(id);
    if (l.find(" pull complete") != std::string::npos) complete.insert(id);
  }
  ASSERT_FALSE(pulls.empty()) << out;
  // One line per layer and state, whatever the bytes: the line without its byte counts is unique.
  std::set<std::string> states;
  for (const auto& l : pulls) {
    std::vector<std::string> words;
    std::istringstream in(l);
    for (std::string w; in >> w;) words.push_back(w);
    if (words.size() >= 2 && words[words.size() - 2].find_first_of("0123456789") != std::string::npos)
      words.resize(words.size() - 2);  // "1.2/4.5 MB"
    std::string key;
    for (const auto& w : words) key += w + " ";
    EXPECT_TRUE(states.insert(key).second) << "twice: " << key << "\n" << out;
  }
  // Each layer's final state once (not one line per byte update), every line once.
  EXPECT_EQ(complete, layers) << out;
  EXPECT_EQ(std::set<std::string>(pulls.begin(), pulls.end()).size(), pulls.size()) << out;
  for (const auto& id : layers) {
    EXPECT_EQ(std::count_if(pulls.begin(), pulls.end(),
                            [&](const std::string& l) { return l.find(id + " pull complete") != std::string::npos; }),
              1)
        << out;
  }
  // Between the deployment's start and its end.
  const int lastPull = indexOf(lines, pulls.back());
  EXPECT_LT(lastPull, indexOf(lines, "web deployment 1 is healthy")) << out;
  if (const int starting = indexOf(lines, "web deployment 1: starting"); starting >= 0)
    EXPECT_LT(lastPull, starting) << out;
  // The server kept the newest report with the deployment, not in the events.
  const auto d = cluster.api("GET", "/api/v1/apps/web/deployments/1").body;
  ASSERT_TRUE(d.contains("pull_progress")) << d.dump();
  EXPECT_EQ(d["pull_progress"]["layers_done"], d["pull_progress"]["layers"].size()) << d.dump();
  for (const auto& e : cluster.api("GET", "/api/v1/apps/web/events").body)
    EXPECT_NE(e.value("state", ""), "pull_progress");

  // On a terminal: the live block (rows cleared and redrawn in place), no plain lines.
  auto [ttyCode, screen] = onTerminal({BERTH_BINARY, "app", "deploy", "web", "--image", host + "/pulled:2", "--arg",
                                       "/bin/busybox", "--arg", "sleep", "--arg", "3600"},
                                      {"BERTH_CLI_CONFIG=" + cluster.serverDir() + "/cli.json", "TERM=xterm"});
  EXPECT_EQ(ttyCode, 0) << screen;
  EXPECT_NE(screen.find("\r\x1b[2Kpull web: 1/1 layers"), std::string::npos) << screen;
  EXPECT_EQ(screen.find("pull web: layer "), std::string::npos) << screen;
  // Once the pull is over its block stays as it was: nothing of it is drawn below the next state.
  auto started = screen.find("web deployment 2: starting");
  if (started == std::string::npos) started = screen.find("web deployment 2: healthy");  // between two polls
  ASSERT_NE(started, std::string::npos) << screen;
  EXPECT_EQ(screen.find("pull web:", started), std::string::npos) << nlohmann::json(screen).dump();
  EXPECT_NE(screen.find("web deployment 2 is healthy"), std::string::npos) << screen;
  registry->signal(SIGTERM);
  registry->wait(std::chrono::seconds(10));
}

}  // namespace
}  // namespace berth::itest
