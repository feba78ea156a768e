// Servers started: `berth dev` (a server and its own agent in one process), twice
// on the same data directory; for HTTPS, `berth dev` with a private dockerd
// (DockerDaemon) and its own nginx on loopback ports the test chose.
#include <gtest/gtest.h>

#include <csignal>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "cli/api_client.hpp"
#include "common/clock.hpp"
#include "common/subprocess.hpp"
#include "harness.hpp"
#include "pki/keys.hpp"
#include "pki/sealed_file.hpp"
#include "proxy_support.hpp"

namespace berth::itest {
namespace {

struct DevRun {
  std::unique_ptr<Process> process;
  nlohmann::json context;
};

DevRun startDev(const std::string& root, int run, const std::vector<std::string>& flags = {}) {
  const std::string cliFile = root + "/data/cli.json";
  const auto before =
      pki::fileExists(cliFile) ? std::filesystem::last_write_time(cliFile) : std::filesystem::file_time_type::min();
  DevRun dev;
  // A relative data directory, as README's `scripts/dev.sh` uses; the user's
  // config directory is the test's own.
  std::vector<std::string> argv = {BERTH_BINARY, "dev", "--data-dir", "data", "--listen", "127.0.0.1:0"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  dev.process = Process::spawn(argv, root + "/dev-" + std::to_string(run) + ".log",
                               {"XDG_CONFIG_HOME=" + root + "/xdg", "HOME=" + root + "/home"}, root);
  EXPECT_TRUE(eventually([&] {
    return pki::fileExists(cliFile) && std::filesystem::last_write_time(cliFile) != before;
  })) << dev.process->log();
  dev.context = nlohmann::json::parse(*pki::readFile(cliFile));
  return dev;
}

nlohmann::json nodes(const DevRun& dev) {
  cli::ClientSettings settings;
  settings.server = dev.context["server"];
  settings.api_key = dev.context["api_key"];
  settings.ca_file = dev.context["ca_file"];
  auto client = cli::ApiClient::create(settings);
  auto reply = client->call("GET", "/api/v1/nodes");
  return reply ? reply->body["nodes"] : nlohmann::json::array();
}

TEST(Dev, RunsServerAndAgentStopsCleanlyAndReusesItsState) {
  std::string pattern = ::testing::TempDir() + "berth-dev-XXXXXX";
  const std::string root = ::mkdtemp(pattern.data());

  auto first = startDev(root, 1);
  std::string nodeId;
  ASSERT_TRUE(eventually([&] {
    auto list = nodes(first);
    if (list.size() != 1 || list[0]["status"] != "online") return false;
    nodeId = list[0]["id"];
    return true;
  })) << first.process->log();
  EXPECT_NE(first.process->log().find("admin key:"), std::string::npos);
  first.process->signal(SIGINT);
  EXPECT_EQ(first.process->wait(std::chrono::seconds(10)), 0) << first.process->log();

  auto second = startDev(root, 2);
  EXPECT_EQ(second.context["api_key"], first.context["api_key"]);  // the same admin key still works
  ASSERT_TRUE(eventually([&] {
    auto list = nodes(second);
    return list.size() == 1 && list[0]["id"] == nodeId && list[0]["status"] == "online";
  })) << second.process->log();
  EXPECT_EQ(second.process->log().find("admin key:"), std::string::npos);  // shown only once
  EXPECT_EQ(countOccurrences(second.process->log(), "node enrolled"), 0);  // the dev agent did not re-enrol

  // The CLI finds the server from any directory through the user's context
  // file, and ignores a ./berth-data/cli.json it was not pointed at.
  const std::string userContext = root + "/xdg/berth/cli.json";
  ASSERT_TRUE(pki::fileExists(userContext));
  struct stat fileStat {}, dirStat{};
  ::stat(userContext.c_str(), &fileStat);
  ::stat((root + "/xdg/berth").c_str(), &dirStat);
  EXPECT_EQ(fileStat.st_mode & 0777, 0600u);
  EXPECT_EQ(dirStat.st_mode & 0777, 0700u);
  auto context = nlohmann::json::parse(*pki::readFile(userContext));
  EXPECT_EQ(context["ca_file"].get<std::string>().front(), '/') << context.dump();
  EXPECT_EQ(context["api_key"], first.context["api_key"]);
  const std::string elsewhere = root + "/elsewhere";
  std::filesystem::create_directories(elsewhere + "/berth-data");
  std::ofstream(elsewhere + "/berth-data/cli.json")
      << nlohmann::json{{"server", "https://127.0.0.1:1"}, {"api_key", "bk_trap"}, {"ca_file", "/dev/null"}};
  const std::vector<std::string> env = {"XDG_CONFIG_HOME=" + root + "/xdg", "BERTH_CLI_CONFIG="};
  auto ls = Process::spawn({BERTH_BINARY, "node", "ls"}, root + "/cli-ls.log", env, elsewhere);
  EXPECT_EQ(ls->wait(std::chrono::seconds(30)), 0) << ls->log();
  EXPECT_NE(ls->log().find(nodeId), std::string::npos) << ls->log();
  auto named = Process::spawn({BERTH_BINARY, "status", "--context", "data/cli.json"}, root + "/cli-named.log", env,
                              root);
  EXPECT_EQ(named->wait(std::chrono::seconds(30)), 0) << named->log();
  second.process->signal(SIGTERM);
  EXPECT_EQ(second.process->wait(std::chrono::seconds(10)), 0);
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(root);
}

// berth leaves its nginx running across restarts (apps keep serving): a test stops it.
void stopDevNginx(const std::string& root) {
  std::ifstream in(root + "/data/agent/proxy/nginx/run/nginx.pid");
  int pid = 0;
  if (in >> pid && pid > 0) ::kill(pid, SIGQUIT);
  removeKernelRules(root + "/data/agent");
}

TEST(Dev, ServesAnAppAtHttpsAppLocalhostWithACertificateFromItsLocalCa) {
  std::string pattern = ::testing::TempDir() + "berth-dev-https-XXXXXX";
  const std::string root = ::mkdtemp(pattern.data());
  DockerDaemon daemon;
  ASSERT_TRUE(daemon.ready());
  struct NginxStopper {  // on an early return: destroyed before the daemon, after the dev processes
    std::string root;
    ~NginxStopper() { stopDevNginx(root); }
  } nginxStopper{root};
  // The README's sample app: busybox httpd serving one page on 8080.
  ASSERT_FALSE(daemon.importBusybox("berth-sample/hello", "1", {{"/www/index.html", "hello from berth\n"}}).empty());
  const int httpPort = freePort(), httpsPort = freePort();
  // Ports the test chose (80/443 and 8080/8443 may be taken here); the
  // choice between those is chooseDevPorts', unit-tested.
  const std::vector<std::string> flags = {"--docker-socket", daemon.socket, "--proxy-http-port",
                                          std::to_string(httpPort), "--proxy-https-port", std::to_string(httpsPort)};
  auto dev = startDev(root, 1, flags);
  ASSERT_TRUE(eventually([&] {
    auto list = nodes(dev);
    return list.size() == 1 && list[0]["status"] == "online";
  })) << dev.process->log();
  const std::string caRoot = root + "/data/local-ca/root.crt";
  const std::string log = dev.process->log();
  EXPECT_NE(log.find("https://<app>.localhost:" + std::to_string(httpsPort)), std::string::npos) << log;
  EXPECT_NE(log.find("local CA: " + caRoot), std::string::npos) << log;
  EXPECT_NE(log.find("/usr/local/share/ca-certificates/berth-dev.crt && sudo update-ca-certificates"),
            std::string::npos)
      << log;

  // The README's deploy line, without --publish: the app is reached through the proxy.
  const std::vector<std::string> env = {"XDG_CONFIG_HOME=" + root + "/xdg", "HOME=" + root + "/home"};
  auto deploy = Process::spawn({BERTH_BINARY, "app", "deploy", "hello", "--image", "berth-sample/hello:1", "--port",
                                "8080", "--health", "http:/", "--arg", "/bin/busybox", "--arg", "httpd", "--arg", "-f",
                                "--arg", "-p", "--arg", "8080", "--arg", "-h", "--arg", "/www"},
                               root + "/deploy.log", env, root);
  ASSERT_EQ(deploy->wait(std::chrono::seconds(60)), 0) << deploy->log() << dev.process->log();

  // Verified against the printed root for hello.localhost (SNI and Host), from the deploy on.
  auto answer = request(httpsPort, "hello.localhost", "/", true, "127.0.0.1", caRoot);
  EXPECT_EQ(answer.status, 200) << dev.process->log();
  EXPECT_EQ(answer.body, "hello from berth\n");
  // The certificate names that host only, and chains to that root only.
  auto leaf = pki::readFile(root + "/data/local-ca/hosts/hello.localhost.crt");
  ASSERT_TRUE(leaf.ok());
  EXPECT_TRUE(pki::verifyServerCertificate(*leaf, *pki::readFile(caRoot), "hello.localhost", systemNowMs()).ok());
  EXPECT_FALSE(pki::verifyServerCertificate(*leaf, *pki::readFile(caRoot), "other.localhost", systemNowMs()).ok());
  // HTTP redirects there, port included.
  auto redirect = request(httpPort, "hello.localhost", "/page?x=1");
  EXPECT_EQ(redirect.status, 308);
  EXPECT_EQ(redirect.location, "https://hello.localhost:" + std::to_string(httpsPort) + "/page?x=1");
  // What the README shows: curl resolves *.localhost to loopback itself.
  if (pki::fileExists("/usr/bin/curl")) {
    auto curl = runProcess({"/usr/bin/curl", "-sS", "--cacert", caRoot,
                            "https://hello.localhost:" + std::to_string(httpsPort) + "/"},
                           20000);
    ASSERT_TRUE(curl.ok());
    EXPECT_EQ(curl->exit_code, 0) << curl->output;
    EXPECT_EQ(curl->output, "hello from berth\n");
  }

  // A restart keeps the root (what the workstation trusts) and the leaf.
  const auto rootBefore = *pki::readFile(caRoot);
  dev.process->signal(SIGINT);
  EXPECT_EQ(dev.process->wait(std::chrono::seconds(20)), 0) << dev.process->log();
  auto again = startDev(root, 2, flags);
  ASSERT_TRUE(eventually([&] {
    auto list = nodes(again);
    return list.size() == 1 && list[0]["status"] == "online";
  })) << again.process->log();
  EXPECT_EQ(*pki::readFile(caRoot), rootBefore);
  EXPECT_EQ(*pki::readFile(root + "/data/local-ca/hosts/hello.localhost.crt"), *leaf);
  EXPECT_TRUE(eventually([&] {
    return request(httpsPort, "hello.localhost", "/", true, "127.0.0.1", caRoot).body == "hello from berth\n";
  })) << again.process->log();

  again.process->signal(SIGINT);
  EXPECT_EQ(again.process->wait(std::chrono::seconds(20)), 0) << again.process->log();
  stopDevNginx(root);  // before its pid file goes with the directory
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace berth::itest
