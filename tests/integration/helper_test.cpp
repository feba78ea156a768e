// `berth helper` as a real process on a temporary socket: what it refuses
// (unknown verbs, bad HMAC, replays, expired requests, traversal,
// metacharacters, symlinks, oversized frames) and what it does (a real nginx
// started, reloaded and stopped; tc inside a network namespace the test makes;
// a host file replaced). Needs root, nginx, ip, tc, nsenter, unshare, setpriv.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/ids.hpp"
#include "common/subprocess.hpp"
#include "harness.hpp"
#include "helper/helper_client.hpp"
#include "helper/helper_protocol.hpp"
#include "proxy/local_http.hpp"
#include "proxy_support.hpp"

namespace berth::itest {
namespace {
namespace fs = std::filesystem;

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void writeFile(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::trunc) << text;
}

// Sends `bytes` as they are; the answer's body ("" when none).
std::string rawExchange(const std::string& socket, const std::string& bytes) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::copy(socket.begin(), socket.end(), addr.sun_path);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "";
  }
  (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  std::string answer;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) answer.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return answer.size() >= 4 ? answer.substr(4) : "";
}

std::string codeOf(const std::string& body) {
  auto r = helper::parseResponse(body);
  return r ? "ok" : r.error().code;
}

class HelperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "berth-helper-XXXXXX";
    root_ = ::mkdtemp(pattern.data());
    ::chmod(root_.c_str(), 0755);  // the proxy-user test's nginx reads its config below here
    socket_ = root_ + "/h.sock";
    key_file_ = root_ + "/helper.key";
    proxy_ = root_ + "/proxy";
    writable_ = root_ + "/etc/berth.yml";
    fs::create_directories(proxy_);
    fs::create_directories(root_ + "/etc");
  }
  void TearDown() override {
    if (!nginx_conf_.empty() && nginxMaster() != 0)
      (void)runProcess({"/usr/sbin/nginx", "-s", "quit", "-c", nginx_conf_}, 10'000);
    helper_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  void startHelper(const std::string& proxy_user = "root") {
    helper_ = Process::spawn({BERTH_BINARY, "helper", "--socket", socket_, "--key-file", key_file_, "--proxy-dirs",
                              proxy_, "--writable-files", writable_, "--proxy-user", proxy_user, "--socket-group", "root"},
                             root_ + "/helper.log");
    ASSERT_TRUE(eventually([&] { return fs::exists(socket_) && fs::exists(key_file_); })) << helper_->log();
    auto client = helper::HelperClient::open(socket_, key_file_);
    ASSERT_TRUE(client.ok()) << client.error().message;
    client_ = *client;
    key_ = *helper::parseKey(readFile(key_file_));
  }

  std::string signedBody(const std::string& verb, const nlohmann::json& args, std::int64_t expires_ms,
                         const std::string& nonce = randomHex(16)) {
    return helper::encodeRequest(key_, verb, args, nonce, expires_ms);
  }
  std::string send(const std::string& body) { return rawExchange(socket_, helper::frame(body)); }

  // A minimal nginx under the allowed directory, answering `text` on `port_`.
  void writeNginx(const std::string& text) {
    const std::string d = proxy_ + "/nginx";
    nginx_conf_ = d + "/nginx.conf";
    fs::create_directories(d + "/run");
    writeFile(nginx_conf_, "worker_processes 1;\npid " + d + "/run/nginx.pid;\nerror_log " + d +
                               "/run/error.log warn;\nevents { worker_connections 64; }\nhttp {\n access_log off;\n"
                               " client_body_temp_path " + d + "/run/cb;\n proxy_temp_path " + d + "/run/p;\n"
                               " fastcgi_temp_path " + d + "/run/f;\n uwsgi_temp_path " + d + "/run/u;\n"
                               " scgi_temp_path " + d + "/run/s;\n server { listen 127.0.0.1:" + std::to_string(port_) +
                               "; location / { return 200 '" + text + "'; } }\n}\n");
  }
  std::string answer() { return proxy::localHttp("127.0.0.1:" + std::to_string(port_), "GET", "/", "x", "", 2).body; }
  int nginxMaster() {
    std::ifstream in(proxy_ + "/nginx/run/nginx.pid");
    int pid = 0;
    in >> pid;
    return pid > 0 && ::kill(pid, 0) == 0 ? pid : 0;
  }

  std::string root_, socket_, key_file_, proxy_, writable_, key_, nginx_conf_;
  int port_ = freePort();
  std::unique_ptr<Process> helper_;
  std::shared_ptr<helper::HelperClient> client_;
};

TEST_F(HelperTest, CreatesItsKeyPrivateAndItsSocketGroupOnly) {
  startHelper();
  struct stat st {};
  ASSERT_EQ(::stat(key_file_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_EQ(st.st_uid, 0u);
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_EQ(key_.size(), 32u);
}

TEST_F(HelperTest, RefusesAWorldReadableKey) {
  writeFile(key_file_, std::string(64, 'a') + "\n");
  ::chmod(key_file_.c_str(), 0644);
  auto p = Process::spawn({BERTH_BINARY, "helper", "--socket", socket_, "--key-file", key_file_, "--proxy-user", "root",
                           "--socket-group", "root"},
                          root_ + "/refused.log");
  EXPECT_EQ(p->wait(), 1);
  EXPECT_NE(p->log().find("unsafe_key"), std::string::npos) << p->log();
}

TEST_F(HelperTest, RefusesUnknownVerbsBadMacsReplaysAndExpiredRequests) {
  startHelper();
  const auto now = systemNowMs();
  EXPECT_EQ(client_->call("exec", {{"argv", {"/bin/sh", "-c", "id"}}}).error().code, "unknown_verb");
  EXPECT_EQ(client_->call("nginx.restart", {{"config", proxy_ + "/nginx.conf"}}).error().code, "unknown_verb");

  const nlohmann::json args = {{"path", writable_}, {"content", "one\n"}};
  EXPECT_EQ(codeOf(send(helper::encodeRequest(std::string(32, 'x'), "file.write", args, randomHex(16), now + 5000))),
            "bad_mac");
  auto tampered = nlohmann::json::parse(signedBody("file.write", args, now + 5000));
  tampered["args"]["content"] = "evil\n";
  EXPECT_EQ(codeOf(send(tampered.dump())), "bad_mac");
  EXPECT_FALSE(fs::exists(writable_));

  EXPECT_EQ(codeOf(send(signedBody("file.write", args, now - 60'000))), "expired");
  EXPECT_EQ(codeOf(send(signedBody("file.write", args, now + 3'600'000))), "bad_expiry");
  EXPECT_FALSE(fs::exists(writable_));

  const std::string once = signedBody("file.write", args, now + 5000);
  EXPECT_EQ(codeOf(send(once)), "ok");
  EXPECT_EQ(readFile(writable_), "one\n");
  writeFile(writable_, "changed\n");
  EXPECT_EQ(codeOf(send(once)), "replayed");
  EXPECT_EQ(readFile(writable_), "changed\n");

  // Every request is in the log with its verb and outcome.
  const std::string log = helper_->log();
  for (const auto* outcome : {"unknown_verb", "bad_mac", "expired", "bad_expiry", "replayed"})
    EXPECT_NE(log.find(std::string("\"outcome\":\"") + outcome + "\""), std::string::npos) << outcome << "\n" << log;
  EXPECT_NE(log.find("\"verb\":\"exec\""), std::string::npos);
  EXPECT_EQ(log.find("one\\n"), std::string::npos);  // file contents are logged as size and hash only
}

TEST_F(HelperTest, RefusesTraversalMetacharactersAndSymlinks) {
  startHelper();
  for (const std::string& config :
       {proxy_ + "/../etc/nginx.conf", proxy_ + "/nginx.conf;reboot", proxy_ + "/$(touch /tmp/pwned).conf",
        proxy_ + "/a`id`.conf", proxy_ + "/a b.conf", proxy_ + "/a\n.conf", std::string("/etc/nginx/nginx.conf")}) {
    auto r = client_->call("nginx.start", {{"config", config}});
    ASSERT_FALSE(r.ok()) << config;
    EXPECT_EQ(r.error().code, "invalid_argument") << config;
    EXPECT_NE(r.error().message.find("args.config"), std::string::npos) << r.error().message;
  }
  EXPECT_EQ(client_->call("file.write", {{"path", root_ + "/etc/other.yml"}, {"content", "x"}}).error().code,
            "invalid_argument");
  EXPECT_EQ(client_->call("traffic.shape", {{"pid", "1; reboot"}, {"in_bps", 1}, {"out_bps", 1}}).error().code,
            "invalid_argument");

  // A symlink inside an allowed directory pointing out of it.
  writeFile(root_ + "/outside/nginx.conf", "events {}\n");
  fs::create_directory_symlink(root_ + "/outside", proxy_ + "/escape");
  auto escaped = client_->call("nginx.start", {{"config", proxy_ + "/escape/nginx.conf"}});
  EXPECT_EQ(escaped.error().code, "unsafe_path") << escaped.error().message;
  fs::create_symlink(root_ + "/outside/nginx.conf", proxy_ + "/linked.conf");
  EXPECT_EQ(client_->call("nginx.start", {{"config", proxy_ + "/linked.conf"}}).error().code, "unsafe_path");

  // The writable file itself a symlink: replaced by a regular file, its target untouched.
  writeFile(root_ + "/victim", "precious\n");
  fs::create_symlink(root_ + "/victim", writable_);
  ASSERT_TRUE(client_->writeFile(writable_, "routes\n").ok());
  EXPECT_EQ(readFile(root_ + "/victim"), "precious\n");
  EXPECT_FALSE(fs::is_symlink(writable_));
  EXPECT_EQ(readFile(writable_), "routes\n");
  EXPECT_EQ(fs::status(writable_).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
}

TEST_F(HelperTest, BadFramesGetAnAnswerAndTheHelperKeepsServing) {
  startHelper();
  EXPECT_EQ(codeOf(rawExchange(socket_, std::string("\xff\xff\xff\xff", 4))), "frame_too_large");
  EXPECT_EQ(codeOf(rawExchange(socket_, std::string("\x00\x00\x00\x00", 4))), "frame_too_large");
  EXPECT_EQ(codeOf(send("{not json")), "bad_request");
  EXPECT_EQ(codeOf(send(std::string(5000, '['))), "bad_request");
  EXPECT_EQ(codeOf(send("{\"verb\":\"file.write\"}")), "bad_request");
  EXPECT_EQ(rawExchange(socket_, std::string("\x00\x00\x10", 3)), "");  // a client that gives up mid-header
  // A request cut short: the helper waits for the rest, then drops it.
  EXPECT_TRUE(client_->writeFile(writable_, "still here\n").ok());
  EXPECT_TRUE(helper_->running());
  EXPECT_EQ(readFile(writable_), "still here\n");
}

TEST_F(HelperTest, StartsReloadsAndStopsARealNginx) {
  startHelper();
  writeNginx("one");
  ASSERT_TRUE(client_->nginx(helper::NginxSignal::Start, nginx_conf_).ok()) << helper_->log();
  ASSERT_TRUE(eventually([&] { return answer() == "one"; })) << readFile(proxy_ + "/nginx/run/error.log");
  writeNginx("two");
  auto reloaded = client_->nginx(helper::NginxSignal::Reload, nginx_conf_);
  ASSERT_TRUE(reloaded.ok()) << reloaded.error().message;
  EXPECT_TRUE(eventually([&] { return answer() == "two"; }));
  ASSERT_TRUE(client_->nginx(helper::NginxSignal::Quit, nginx_conf_).ok());
  EXPECT_TRUE(eventually([&] { return nginxMaster() == 0; }));
  EXPECT_NE(helper_->log().find("\"verb\":\"nginx.reload\""), std::string::npos);
  // nginx's own refusal comes back as the error.
  writeFile(nginx_conf_, "this is not nginx;\n");
  auto refused = client_->nginx(helper::NginxSignal::Start, nginx_conf_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "command_failed");
  EXPECT_NE(refused.error().message.find("unknown directive"), std::string::npos) << refused.error().message;
}

TEST_F(HelperTest, RunsTheProxyAsTheProxyUserWithOnlyTheBindCapability) {
  startHelper("nobody");
  writeNginx("unprivileged");
  ASSERT_EQ(runProcess({"chown", "-R", "65534:65534", proxy_ + "/nginx"}, 5000)->exit_code, 0);
  auto started = client_->nginx(helper::NginxSignal::Start, nginx_conf_);
  ASSERT_TRUE(started.ok()) << started.error().message;
  ASSERT_TRUE(eventually([&] { return answer() == "unprivileged"; }));
  const std::string status = readFile("/proc/" + std::to_string(nginxMaster()) + "/status");
  EXPECT_NE(status.find("Uid:\t65534\t65534\t65534\t65534"), std::string::npos) << status;
  EXPECT_NE(status.find("CapEff:\t0000000000000400"), std::string::npos) << status;  // CAP_NET_BIND_SERVICE only
  EXPECT_TRUE(client_->nginx(helper::NginxSignal::Quit, nginx_conf_).ok());
  EXPECT_TRUE(eventually([&] { return nginxMaster() == 0; }));
}

TEST_F(HelperTest, ShapesTrafficOnlyInsideAContainersNetworkNamespace) {
  startHelper();
  auto ns = Process::spawn({"/usr/bin/unshare", "-n", "/bin/sleep", "600"}, root_ + "/ns.log");
  const std::string pid = std::to_string(ns->pid());
  ASSERT_TRUE(eventually([&] {
    return fs::read_symlink("/proc/" + pid + "/ns/net") != fs::read_symlink("/proc/self/ns/net");
  }));
  const std::string veth = "bht" + randomHex(4);
  ASSERT_EQ(runProcess({"ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", pid}, 5000)->exit_code, 0);
  auto shaped = client_->shapeTraffic(ns->pid(), 10'000'000, 5'000'000);
  EXPECT_TRUE(shaped.ok()) << shaped.error().message << helper_->log();
  EXPECT_NE(runProcess({"tc", "qdisc", "show", "dev", veth}, 5000)->output.find("rate 10Mbit"), std::string::npos);
  EXPECT_NE(runProcess({"nsenter", "-t", pid, "-n", "tc", "qdisc", "show", "dev", "eth0"}, 5000)->output.find("rate 5Mbit"),
            std::string::npos);
  // The host's own namespace (this test's process) is never shaped.
  auto host = client_->shapeTraffic(static_cast<int>(::getpid()), 1000, 1000);
  ASSERT_FALSE(host.ok());
  EXPECT_NE(host.error().message.find("network namespace of its own"), std::string::npos) << host.error().message;
  EXPECT_EQ(client_->shapeTraffic(4'000'000, 1, 1).error().code, "not_running");
  (void)runProcess({"ip", "link", "del", veth}, 5000);
  ns->signal(SIGKILL);
}

}  // namespace
}  // namespace berth::itest
