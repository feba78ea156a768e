// SourceBuilder's fetch against real git servers (issue 11), started by each
// test on free loopback ports and stopped after it: OpenSSH's sshd serving a
// bare repository through git-shell to one deploy key, and nginx + fcgiwrap +
// `git http-backend` with basic auth and TLS from a test CA. The images are
// "built" by the in-memory runtime (the Docker side is source_image_test.cpp).
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <thread>

#include "agent/source_builder.hpp"
#include "common/subprocess.hpp"
#include "git_servers.hpp"
#include "proxy_support.hpp"
#include "source/ssh_keys.hpp"
#include "../support/memory_runtime.hpp"

namespace berth::itest {
namespace {

class SourceFetchTest : public ::testing::Test {
 protected:
  std::string dir;
  testing::MemoryRuntime runtime;
  std::unique_ptr<GitRepo> repo;
  std::string first, second;
  std::atomic<bool> cancel{false};
  std::vector<std::string> lines;

  void SetUp() override {
    char pattern[] = "/tmp/berth-srcfetch-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir = pattern;
    repo = std::make_unique<GitRepo>(dir + "/repos", "web");
    first = repo->commit({{"Dockerfile", "FROM scratch\n"}, {"VERSION", "1\n"}}, "first");
    second = repo->commit({{"VERSION", "2\n"}}, "second");
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  agent::SourceBuilder builder(agent::BuildSettings settings = {}) {
    return agent::SourceBuilder(runtime, settings, dir + "/state");
  }
  agent::BuildObserver observer() {
    return {nullptr, [this](const std::string& line) { lines.push_back(line); }};
  }
  bool buildsDirEmpty() {
    return !std::filesystem::exists(dir + "/state/builds") || std::filesystem::is_empty(dir + "/state/builds");
  }
};

TEST_F(SourceFetchTest, OverSshWithADeployKeyByBranchAndByFullCommitOnlyAgainstThePinnedHostKey) {
  auto key = source::newDeployKey("web");
  ASSERT_TRUE(key.ok());
  SshGitServer server(dir + "/sshd", key->public_line);
  ASSERT_TRUE(server.ready()) << server.log();
  ASSERT_FALSE(server.fingerprint().empty());

  agent::SourceBuildRequest request;
  request.app = "web";
  request.url = server.url(repo->bare());
  request.ref = "main";
  request.credentials.deploy_key = key->private_openssh;

  // No pin: refused, naming what the server offers, and nothing fetched.
  auto unpinned = builder().build(request, observer(), cancel);
  ASSERT_FALSE(unpinned.ok());
  EXPECT_EQ(unpinned.error().code, "host_key_unpinned") << unpinned.error().message;
  EXPECT_NE(unpinned.error().message.find(server.fingerprint()), std::string::npos) << unpinned.error().message;
  const auto offered = agent::offeredHostKeys(unpinned.error());
  EXPECT_NE(std::find(offered.begin(), offered.end(), server.fingerprint()), offered.end());
  EXPECT_TRUE(runtime.builds.empty());
  EXPECT_TRUE(buildsDirEmpty());

  // A pin the server does not offer: refused naming both.
  const std::string wrongPin = "SHA256:" + std::string(43, 'A');
  request.credentials.host_key = wrongPin;
  auto mismatch = builder().build(request, observer(), cancel);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().code, "host_key_mismatch");
  EXPECT_NE(mismatch.error().message.find(wrongPin), std::string::npos) << mismatch.error().message;
  EXPECT_NE(mismatch.error().message.find(server.fingerprint()), std::string::npos) << mismatch.error().message;
  EXPECT_TRUE(runtime.builds.empty());

  // Pinned: the branch's head.
  request.credentials.host_key = server.fingerprint();
  auto byBranch = builder().build(request, observer(), cancel);
  ASSERT_TRUE(byBranch.ok()) << byBranch.error().message << "\n" << server.log();
  EXPECT_EQ(byBranch->commit, second);
  EXPECT_EQ(byBranch->image, "web:" + second.substr(0, 12));
  EXPECT_FALSE(byBranch->reused);
  ASSERT_EQ(runtime.builds.size(), 1u);
  EXPECT_EQ(runtime.builds[0].labels.at(agent::kBuildLabel),
            agent::buildLabelValue("web", second, agent::buildInputsDigest(request, {})));
  EXPECT_EQ(runtime.builds[0].labels.size(), 1u);
  EXPECT_EQ(runtime.builds[0].memory_bytes, std::int64_t{2} << 30);
  EXPECT_EQ(runtime.builds[0].cpu_millicores, 2000);
  EXPECT_EQ(runtime.builds[0].timeout_s, 900);
  EXPECT_TRUE(buildsDirEmpty()) << "the private build directory goes when the build ends";

  // A specific, older commit (a rollback or a webhook push).
  request.commit = first;
  auto byCommit = builder().build(request, observer(), cancel);
  ASSERT_TRUE(byCommit.ok()) << byCommit.error().message;
  EXPECT_EQ(byCommit->commit, first);
  EXPECT_EQ(byCommit->image, "web:" + first.substr(0, 12));

  // Another key than the one the server knows: refused, naming authentication.
  auto other = source::newDeployKey("intruder");
  ASSERT_TRUE(other.ok());
  request.commit.clear();
  request.credentials.deploy_key = other->private_openssh;
  auto wrongKey = builder().build(request, observer(), cancel);
  ASSERT_FALSE(wrongKey.ok());
  EXPECT_EQ(wrongKey.error().code, "git_authentication_failed") << wrongKey.error().message;
  EXPECT_NE(wrongKey.error().message.find("authentication"), std::string::npos) << wrongKey.error().message;
  EXPECT_TRUE(buildsDirEmpty()) << "also after a failure";
}

TEST_F(SourceFetchTest, OverHttpsWithATokenUnderAPrivateCa) {
  HttpsGitServer server(dir + "/https", dir + "/repos", "x-access-token", "s3cret-token");
  ASSERT_TRUE(server.ready()) << server.log();
  agent::BuildSettings settings;
  settings.git_ca_file = server.caFile();

  agent::SourceBuildRequest request;
  request.app = "web.acme";
  request.url = server.url("web");
  request.ref = "main";
  request.credentials.token = "s3cret-token";
  auto built = builder(settings).build(request, observer(), cancel);
  ASSERT_TRUE(built.ok()) << built.error().message << "\n" << server.log();
  EXPECT_EQ(built->commit, second);
  EXPECT_EQ(built->image, "web.acme:" + second.substr(0, 12));

  request.commit = first;
  auto byCommit = builder(settings).build(request, observer(), cancel);
  ASSERT_TRUE(byCommit.ok()) << byCommit.error().message;
  EXPECT_EQ(byCommit->commit, first);

  request.commit.clear();
  request.ref = "no-such-branch";
  auto missing = builder(settings).build(request, observer(), cancel);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "git_failed");
  EXPECT_NE(missing.error().message.find("git fetch"), std::string::npos) << missing.error().message;
  EXPECT_NE(missing.error().message.find("no such ref"), std::string::npos) << missing.error().message;
  request.ref = "main";
  request.credentials.token = "wrong-token";
  auto refused = builder(settings).build(request, observer(), cancel);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "git_authentication_failed") << refused.error().message;
  EXPECT_NE(refused.error().message.find("authentication"), std::string::npos) << refused.error().message;
  EXPECT_EQ(refused.error().message.find("wrong-token"), std::string::npos) << "the token is never echoed";

  // Without the test CA the server's certificate is not trusted.
  request.credentials.token = "s3cret-token";
  auto untrusted = builder().build(request, observer(), cancel);
  ASSERT_FALSE(untrusted.ok());
  EXPECT_EQ(untrusted.error().code, "git_failed") << untrusted.error().message;
  EXPECT_TRUE(buildsDirEmpty());
}

TEST_F(SourceFetchTest, HostileValuesNeverReachGit) {
  const std::string marker = dir + "/pwned";
  agent::SourceBuildRequest request;
  request.app = "web";
  request.url = "https://127.0.0.1:1/web.git";
  for (const std::string& ref : {"--upload-pack=touch " + marker, "-u touch " + marker, "main;touch " + marker,
                                "$(touch " + marker + ")"}) {
    request.ref = ref;
    auto r = builder().build(request, observer(), cancel);
    ASSERT_FALSE(r.ok()) << ref;
    EXPECT_EQ(r.error().code, "invalid_argument") << ref;
    EXPECT_NE(r.error().message.find("source.ref"), std::string::npos) << r.error().message;
  }
  request.ref = "main";
  request.url = "ext::sh -c touch% " + marker;
  EXPECT_EQ(builder().build(request, observer(), cancel).error().code, "invalid_argument");
  request.url = "https://127.0.0.1:1/web.git";
  request.commit = "--upload-pack=touch " + marker;
  EXPECT_EQ(builder().build(request, observer(), cancel).error().code, "invalid_argument");
  EXPECT_FALSE(std::filesystem::exists(marker));
  EXPECT_FALSE(std::filesystem::exists(dir + "/state/builds")) << "refused before any directory was made";
  EXPECT_TRUE(lines.empty());
}

// A git server that takes the connection and never answers (a python listener on loopback,
// started and stopped here): the time limit, then a cancel, end git and leave nothing behind.
TEST_F(SourceFetchTest, AServerThatNeverAnswersMeetsTheTimeLimitAndTheCancel) {
  const int port = freePort();
  auto silent = Process::spawn({"/usr/bin/python3", "-c",
                                "import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                                "s.bind(('127.0.0.1'," + std::to_string(port) + "))\ns.listen(16)\nc=[]\n"
                                "while True: c.append(s.accept())\n"},
                               dir + "/silent.log");
  ASSERT_TRUE(eventually([&] {
    auto r = runProcess({"curl", "-s", "--max-time", "0.3", "http://127.0.0.1:" + std::to_string(port) + "/"}, 2000);
    return r && r->exit_code == 28;  // connected, then no answer: curl's timeout
  })) << silent->log();
  agent::SourceBuildRequest request;
  request.app = "web";
  request.url = "https://127.0.0.1:" + std::to_string(port) + "/web.git";
  agent::BuildSettings settings;
  settings.git_timeout_s = 1;
  auto timedOut = builder(settings).build(request, observer(), cancel);
  ASSERT_FALSE(timedOut.ok());
  EXPECT_EQ(timedOut.error().code, "timeout") << timedOut.error().message;
  EXPECT_NE(timedOut.error().message.find("git fetch"), std::string::npos) << timedOut.error().message;
  // With an earlier build of the app on the node, the first git step asks which commit the ref names.
  runtime.images["web:0123456789ab"] = {"sha256:earlier", {}, {{agent::kBuildLabel, "web@" + std::string(40, '1') + ":x"}}};
  auto askTimedOut = builder(settings).build(request, observer(), cancel);
  ASSERT_FALSE(askTimedOut.ok());
  EXPECT_EQ(askTimedOut.error().code, "timeout") << askTimedOut.error().message;
  EXPECT_NE(askTimedOut.error().message.find("git ls-remote"), std::string::npos) << askTimedOut.error().message;
  // A cancel ends the build "cancelled", with no builds directory and no git left running
  // against the silent server.
  const std::string where = "127.0.0.1:" + std::to_string(port) + "/web.git";
  const auto cancelledOnce = [&](const std::function<void()>& before_cancel) {
    std::thread canceller([&] {
      before_cancel();
      cancel = true;
    });
    auto cancelled = builder().build(request, observer(), cancel);
    canceller.join();
    cancel = false;
    ASSERT_FALSE(cancelled.ok());
    EXPECT_EQ(cancelled.error().code, "cancelled") << cancelled.error().message;
    EXPECT_TRUE(buildsDirEmpty());
    auto left = runProcess({"pgrep", "-f", where}, 5000);
    EXPECT_TRUE(left && left->exit_code == 1) << (left ? left->output : "");
  };
  // While both the ls-remote and the fetch beside it wait.
  cancelledOnce([&] {
    eventually([&] {  // the ls-remote and the fetch are both talking to the silent server
      auto asking = runProcess({"pgrep", "-f", "ls-remote -- https://" + where}, 5000);
      auto fetching = runProcess({"pgrep", "-f", "fetch -q .*https://" + where}, 5000);
      return asking && asking->exit_code == 0 && fetching && fetching->exit_code == 0;
    });
  });
  runtime.images.clear();
  // While the fetch alone waits.
  cancelledOnce([] { ::usleep(300'000); });
  silent->signal(SIGTERM);
  silent->wait();
}

// A real server and agent: the agent's HELLO lists app.build.cancel among its verbs (the
// allowlist its COMMAND frames are checked against), and the server's node view shows it.
TEST(SourceBuildVerbs, TheAgentAllowlistsTheBuildCancelVerb) {
  Cluster c;
  c.startServer();
  const std::string id = c.startOnlineAgent("a");
  const auto verbs = c.node(id)["verbs"];
  ASSERT_TRUE(verbs.is_array()) << c.node(id).dump();
  EXPECT_NE(std::find(verbs.begin(), verbs.end(), "app.build.cancel"), verbs.end()) << verbs.dump();
}

}  // namespace
}  // namespace berth::itest
