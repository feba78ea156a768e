// Joining a second machine as a new user would: a server listening on
// 0.0.0.0, and an agent on "another host" -- a network namespace of its own
// with a veth pair (10.x addresses) created here and removed afterwards --
// running the join line `berth token create` prints. Starts one berth server
// and berth agents; traffic stays on loopback and the namespace's veth.
#include <gtest/gtest.h>
#include <unistd.h>

#include <sstream>

#include "common/subprocess.hpp"
#include "harness.hpp"
#include "pki/keys.hpp"
#include "pki/sealed_file.hpp"

namespace berth::itest {
namespace {

// A network namespace with a veth pair: the host end HOST_ADDRESS/30, the
// namespace end 10.x.y.2/30 with its default route through the host end.
class NetworkNamespace {
 public:
  NetworkNamespace() {
    const int id = static_cast<int>(::getpid()) % 60000;
    name_ = "berth-join-" + std::to_string(id);
    host_link_ = "bjh" + std::to_string(id);
    const std::string ns_link = "bjn" + std::to_string(id);
    const std::string prefix = "10.231." + std::to_string(id / 64 % 256) + "." + std::to_string(id % 64 * 4);
    host_address_ = prefix.substr(0, prefix.rfind('.') + 1) + std::to_string(id % 64 * 4 + 1);
    const std::string ns_address = prefix.substr(0, prefix.rfind('.') + 1) + std::to_string(id % 64 * 4 + 2);
    run({"ip", "netns", "del", name_}, false);  // a leftover from a killed run
    ok_ = run({"ip", "netns", "add", name_}) &&
          run({"ip", "link", "add", host_link_, "type", "veth", "peer", "name", ns_link}) &&
          run({"ip", "link", "set", ns_link, "netns", name_}) &&
          run({"ip", "addr", "add", host_address_ + "/30", "dev", host_link_}) &&
          run({"ip", "link", "set", host_link_, "up"}) &&
          run({"ip", "netns", "exec", name_, "ip", "addr", "add", ns_address + "/30", "dev", ns_link}) &&
          run({"ip", "netns", "exec", name_, "ip", "link", "set", ns_link, "up"}) &&
          run({"ip", "netns", "exec", name_, "ip", "link", "set", "lo", "up"}) &&
          run({"ip", "netns", "exec", name_, "ip", "route", "add", "default", "via", host_address_});
  }
  ~NetworkNamespace() {
    run({"ip", "link", "del", host_link_}, false);  // takes its peer with it
    run({"ip", "netns", "del", name_}, false);
  }
  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }
  const std::string& hostAddress() const { return host_address_; }
  const std::string& error() const { return error_; }

 private:
  bool run(const std::vector<std::string>& argv, bool record = true) {
    auto out = runProcess(argv, 10000);
    if (out && out->exit_code == 0) return true;
    if (record) {
      error_ = argv[0];
      for (std::size_t i = 1; i < argv.size(); ++i) error_ += " " + argv[i];
      error_ += ": " + (out ? out->output : out.error().message);
    }
    return false;
  }
  std::string name_, host_link_, host_address_, error_;
  bool ok_ = false;
};

// Process::spawn does not search PATH.
std::string ipBinary() {
  for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return "ip";
}

// The `berth agent ...` line `berth token create` printed, as argv.
std::vector<std::string> joinLine(const std::string& output) {
  auto at = output.find("berth agent ");
  if (at == std::string::npos) return {};
  std::istringstream words(output.substr(at, output.find('\n', at) - at));
  std::vector<std::string> argv;
  for (std::string w; words >> w;) argv.push_back(w);
  return argv;
}

std::string valueAfter(const std::vector<std::string>& argv, const std::string& flag) {
  for (std::size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == flag) return argv[i + 1];
  }
  return "";
}

bool onlineNodes(Cluster& cluster, int count) {
  auto reply = cluster.apiResult("GET", "/api/v1/nodes");
  if (!reply || !reply->body.is_object() || !reply->body.contains("nodes")) return false;
  int online = 0;
  for (const auto& node : reply->body["nodes"]) online += node.value("status", "") == "online";
  return online == count;
}

TEST(Join, AgentInAnotherNetworkNamespaceJoinsAServerOnEveryAddressWithThePrintedLine) {
  NetworkNamespace ns;
  ASSERT_TRUE(ns.ok()) << ns.error();
  Cluster cluster;
  cluster.startServer({"--listen", "0.0.0.0:0"});

  // The context the server wrote reaches it (startServer called the API
  // through it), and names no loopback address.
  const std::string url = cluster.url();
  EXPECT_EQ(url.find("https://localhost"), std::string::npos) << url;
  EXPECT_EQ(url.find("https://127."), std::string::npos) << url;
  // The certificate holds the host name and the veth's address too.
  auto certificate = pki::readFile(cluster.serverDir() + "/pki/server.crt");
  ASSERT_TRUE(certificate.ok());
  auto info = pki::inspectCertificate(*certificate);
  ASSERT_TRUE(info.ok());
  char hostName[256] = {0};
  ::gethostname(hostName, sizeof hostName - 1);
  for (const std::string& name : {std::string(hostName), ns.hostAddress(), std::string("127.0.0.1")}) {
    EXPECT_NE(std::find(info->names.begin(), info->names.end(), name), info->names.end()) << name;
  }

  auto [code, printed] = cluster.cli({"token", "create", "--ttl", "600"});
  ASSERT_EQ(code, 0) << printed;
  auto argv = joinLine(printed);
  ASSERT_GE(argv.size(), 8u) << printed;
  EXPECT_EQ(valueAfter(argv, "--server"), url) << printed;
  // README: berth agent --server URL --join TOKEN --ca-pin PIN --state-dir DIR, run on the other host.
  argv[0] = BERTH_BINARY;
  argv.insert(argv.end(), {"--state-dir", cluster.agentDir("far")});
  argv.insert(argv.begin(), {ipBinary(), "netns", "exec", ns.name()});
  auto agent = Process::spawn(argv, cluster.root() + "/far.log");
  EXPECT_TRUE(eventually([&] { return onlineNodes(cluster, 1); }, std::chrono::seconds(30))) << agent->log();
  EXPECT_TRUE(agent->running()) << agent->log();
  EXPECT_EQ(cluster.agentState("far").server_url, url);
  agent.reset();  // before the namespace goes
}

TEST(Join, TheCertificateIsKeptAcrossRestartsAndReissuedWhenTheNamesItShouldHoldChange) {
  Cluster cluster;
  cluster.startServer();  // loopback: localhost, 127.0.0.1 whatever the host's addresses
  const std::string port = std::to_string(cluster.port());
  auto first = pki::readFile(cluster.serverDir() + "/pki/server.crt");
  ASSERT_TRUE(first.ok());
  cluster.killServer(SIGTERM);
  cluster.startServer();
  EXPECT_EQ(*pki::readFile(cluster.serverDir() + "/pki/server.crt"), *first);
  EXPECT_EQ(cluster.server().log().find("re-issued"), std::string::npos) << cluster.server().log();
  const std::string pin = cluster.caPin();

  cluster.killServer(SIGTERM);
  cluster.startServer({"--listen", "0.0.0.0:" + port});
  EXPECT_NE(*pki::readFile(cluster.serverDir() + "/pki/server.crt"), *first);
  EXPECT_NE(cluster.server().log().find("server certificate re-issued: the names it should hold changed"),
            std::string::npos)
      << cluster.server().log();
  EXPECT_EQ(cluster.caPin(), pin);  // same CA
}

TEST(Join, ANameTheCertificateLacksSaysWhichNamesItHoldsAndTheSettingThatAddsOne) {
  Cluster cluster;
  cluster.startServer({"--listen", "0.0.0.0:0"});
  const std::string port = std::to_string(cluster.port());
  // 127.0.0.2 reaches the listener but is not in the certificate.
  const std::string other = "https://127.0.0.2:" + port;

  auto& agent = cluster.startAgent("named", cluster.createToken(), {"--server", other});
  ASSERT_NE(agent.wait(std::chrono::seconds(30)), 0) << agent.log();
  const std::string log = agent.log();
  EXPECT_NE(log.find("does not name '127.0.0.2': it holds localhost, 127.0.0.1, "), std::string::npos) << log;
  EXPECT_NE(log.find("add '127.0.0.2' to the server's server_names"), std::string::npos) << log;

  auto [code, output] = cluster.cli({"status", "--server", other});
  EXPECT_NE(code, 0) << output;
  EXPECT_NE(output.find("add '127.0.0.2' to the server's server_names"), std::string::npos) << output;

  // The setting the hint names is enough: the same line then joins.
  cluster.killServer(SIGTERM);
  cluster.startServer({"--listen", "0.0.0.0:" + port, "--server-names", "127.0.0.2"});
  auto& joined = cluster.startAgent("named", cluster.createToken(), {"--server", other});
  EXPECT_TRUE(eventually([&] { return onlineNodes(cluster, 1); }, std::chrono::seconds(30))) << joined.log();
}

}  // namespace
}  // namespace berth::itest
