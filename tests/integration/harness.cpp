#include "harness.hpp"

#include "proxy/nat/upstream_nat.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/clock.hpp"
#include "common/config.hpp"
#include "common/subprocess.hpp"
#include "common/json.hpp"
#include "net/tls.hpp"
#include "net/url.hpp"
#include "net/ws_channel.hpp"
#include "pki/sealed_file.hpp"
#include "protocol/envelope.hpp"

extern char** environ;

namespace berth::itest {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

std::unique_ptr<Process> Process::spawn(const std::vector<std::string>& argv, const std::string& log_path,
                                        const std::vector<std::string>& extra_env, const std::string& cwd) {
  auto p = std::make_unique<Process>();
  p->log_path_ = log_path;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  // The test's own sockets (Asio's have no CLOEXEC) stay here: a server that
  // inherited one would keep open a connection the test has closed.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> envStrings;
  // extra_env replaces inherited variables of the same name.
  auto overridden = [&](const std::string& entry) {
    const std::string name = entry.substr(0, entry.find('=') + 1);
    for (const auto& e : extra_env) {
      if (e.rfind(name, 0) == 0) return true;
    }
    return false;
  };
  for (char** e = environ; *e; ++e) {
    if (!overridden(*e)) envStrings.emplace_back(*e);
  }
  for (const auto& e : extra_env) envStrings.push_back(e);
  std::vector<char*> env;
  for (auto& e : envStrings) env.push_back(e.data());
  env.push_back(nullptr);
  if (posix_spawn(&p->pid_, argv[0].c_str(), &actions, nullptr, args.data(), env.data()) != 0) {
    ADD_FAILURE() << "cannot spawn " << argv[0];
  }
  posix_spawn_file_actions_destroy(&actions);
  return p;
}

Process::~Process() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);
  }
}

void Process::signal(int sig) {
  if (!reaped_) ::kill(pid_, sig);
}

int Process::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!reaped_) {
    pid_t r = ::waitpid(pid_, &status_, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
}

bool Process::running() { return wait(std::chrono::milliseconds(0)) == -1; }

std::string Process::log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

int countOccurrences(const std::string& text, const std::string& needle) {
  int count = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++count;
  return count;
}

void removeKernelRules(const std::string& agent_state_dir) {
  const std::string nginx = std::filesystem::absolute(agent_state_dir + "/proxy/nginx").lexically_normal().string();
  // nat.rules without nat_ports: the chains were made for the app network before any app had a port.
  if (::geteuid() == 0 && (std::filesystem::exists(nginx + "/nat_ports") || std::filesystem::exists(nginx + "/nat.rules")))
    (void)proxy::nat::IptablesNat(nginx, nginx).removeRules();
}

Cluster::Cluster() {
  std::string pattern = ::testing::TempDir() + "berth-it-XXXXXX";
  root_ = ::mkdtemp(pattern.data());
}

Cluster::~Cluster() {
  std::vector<std::string> names;
  for (const auto& [name, process] : agents_) names.push_back(name);
  agents_.clear();
  for (const auto& name : names) removeKernelRules(agentDir(name));
  server_.reset();
  if (!::testing::Test::HasFailure())
    std::filesystem::remove_all(root_);
  else
    std::cerr << "test files kept in " << root_ << "\n";
}

void Cluster::startServer(const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {BERTH_BINARY, "server", "--data-dir", serverDir()};
  // Loopback and today's names unless the test says otherwise.
  auto given = [&](const std::string& flag) { return std::find(flags.begin(), flags.end(), flag) != flags.end(); };
  if (!given("--listen")) argv.insert(argv.end(), {"--listen", "127.0.0.1:" + std::to_string(port_)});
  if (!given("--server-names")) argv.insert(argv.end(), {"--server-names", "localhost,127.0.0.1"});
  // Parallel tests' servers would all want the default 127.0.0.1:9464: any free loopback port.
  if (!given("--metrics-listen")) argv.insert(argv.end(), {"--metrics-listen", "127.0.0.1:0"});
  // Connections spread over three network threads whatever the machine's core count, so every
  // test crosses threads as a multi-core server does.
  if (!given("--io-threads")) argv.insert(argv.end(), {"--io-threads", "3"});
  argv.insert(argv.end(), flags.begin(), flags.end());
  const std::string cliFile = serverDir() + "/cli.json";
  const auto before =
      pki::fileExists(cliFile) ? std::filesystem::last_write_time(cliFile) : std::filesystem::file_time_type::min();
  server_ = Process::spawn(argv, root_ + "/server-" + std::to_string(++server_starts_) + ".log",
                           {"XDG_CONFIG_HOME=" + configHome()});
  ASSERT_TRUE(eventually([&] {
    return pki::fileExists(cliFile) && std::filesystem::last_write_time(cliFile) != before;
  })) << server_->log();
  auto context = nlohmann::json::parse(*pki::readFile(cliFile));
  url_ = context["server"];
  ca_file_ = context["ca_file"];
  if (api_key_.empty()) api_key_ = context["api_key"];
  port_ = std::stoi(url_.substr(url_.rfind(':') + 1));
  ASSERT_TRUE(eventually([&] { return apiResult("GET", "/api/v1/status").ok(); })) << server_->log();
  ca_pin_ = api("GET", "/api/v1/status").body["ca_pin"];
}

void Cluster::killServer(int sig) {
  server_->signal(sig);
  EXPECT_NE(server_->wait(std::chrono::seconds(10)), -1);
}

Result<cli::ApiReply> Cluster::apiResult(const std::string& method, const std::string& target,
                                         const nlohmann::json& body) {
  auto client = cli::ApiClient::create({url_, api_key_, ca_file_});
  if (!client) return client.error();
  return client->call(method, target, body);
}

std::string Cluster::ownerSession() {
  if (!owner_session_.empty()) return owner_session_;
  EXPECT_TRUE(callAs(apiKey(), "PUT", "/api/v1/users/me/password", {{"password", "owner password!"}}).ok);
  auto login = callAs("", "POST", "/api/v1/login", {{"name", "owner"}, {"password", "owner password!"}});
  EXPECT_TRUE(login.ok) << login.message;
  owner_session_ = login.body.value("token", std::string());
  return owner_session_;
}

std::string Cluster::orgWithAdminKey(const std::string& org) {
  auto made = callAs(apiKey(), "POST", "/api/v1/orgs", {{"name", org}});
  EXPECT_TRUE(made.ok) << made.message;
  auto invite = callAs(ownerSession(), "POST", "/api/v1/users/invite", {{"name", org + "-boss"}, {"role", "owner"}}, org);
  EXPECT_TRUE(invite.ok) << invite.message;
  const std::string password = org + " boss password";
  EXPECT_TRUE(callAs("", "POST", "/api/v1/invites/accept", {{"token", invite.body["token"]}, {"password", password}}).ok);
  auto login = callAs("", "POST", "/api/v1/login", {{"name", org + "-boss"}, {"password", password}});
  EXPECT_TRUE(login.ok) << login.message;
  auto key = callAs(login.body.value("token", ""), "POST", "/api/v1/keys", {{"scope", "admin"}});
  EXPECT_TRUE(key.ok) << key.message;
  EXPECT_EQ(key.body["org"], org);
  return key.body.value("key", std::string());
}

BearerAnswer Cluster::callAs(const std::string& bearer, const std::string& method, const std::string& target,
                             const nlohmann::json& body, const std::string& org) {
  cli::ClientSettings settings;
  settings.server = url();
  settings.api_key = bearer;
  settings.ca_file = caFile();
  settings.org = org;
  auto client = cli::ApiClient::create(settings);
  if (!client) return {false, 0, client.error().code, client.error().message, nullptr};
  auto reply = client->call(method, target, body);
  if (!reply) return {false, 0, reply.error().code, reply.error().message, nullptr};
  return {true, reply->status, "", "", reply->body};
}

cli::ApiReply Cluster::api(const std::string& method, const std::string& target, const nlohmann::json& body) {
  auto reply = apiResult(method, target, body);
  EXPECT_TRUE(reply.ok()) << method << " " << target << ": " << (reply.ok() ? "" : reply.error().message);
  return reply.ok() ? *reply : cli::ApiReply{};
}

std::string Cluster::createToken(int ttl_s) {
  return api("POST", "/api/v1/tokens", {{"ttl_s", ttl_s}}).body.value("token", std::string());
}

Process& Cluster::startAgent(const std::string& name, const std::string& token, const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {BERTH_BINARY, "agent", "--state-dir",     agentDir(name),
                                   "--ca-pin",   ca_pin_, "--backoff-cap-s", "2"};
  if (std::find(flags.begin(), flags.end(), "--server") == flags.end()) argv.insert(argv.end(), {"--server", url_});
  if (!token.empty()) argv.insert(argv.end(), {"--join", token});
  // No reverse proxy unless a test asks for one: agents of parallel tests would all want port 80.
  if (std::find(flags.begin(), flags.end(), "--proxy") == flags.end()) argv.insert(argv.end(), {"--proxy", "none"});
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.insert(argv.begin(), agent_prefix.begin(), agent_prefix.end());
  for (auto& [n, p] : agents_) {
    if (n == name) {
      p = Process::spawn(argv, root_ + "/" + name + ".log");
      return *p;
    }
  }
  agents_.emplace_back(name, Process::spawn(argv, root_ + "/" + name + ".log"));
  return *agents_.back().second;
}

Process& Cluster::agent(const std::string& name) {
  for (auto& [n, p] : agents_) {
    if (n == name) return *p;
  }
  throw std::logic_error("no agent " + name);
}

std::string Cluster::startOnlineAgent(const std::string& name, const std::vector<std::string>& flags) {
  const bool enrolled = pki::fileExists(agentDir(name) + "/agent.json");
  auto& process = startAgent(name, enrolled ? "" : createToken(), flags);
  if (!eventually([&] { return pki::fileExists(agentDir(name) + "/agent.json"); })) {
    ADD_FAILURE() << "agent did not enrol: " << process.log();
    return "";
  }
  const std::string id = agentState(name).node_id;
  EXPECT_TRUE(eventually([&] { return node(id).value("status", "") == "online"; })) << process.log();
  return id;
}

agent::AgentState Cluster::agentState(const std::string& name) {
  auto state = agent::loadAgentState(agentDir(name));
  EXPECT_TRUE(state.ok() && state->has_value());
  return state.ok() && state->has_value() ? **state : agent::AgentState{};
}

nlohmann::json Cluster::node(const std::string& id) {
  auto reply = apiResult("GET", "/api/v1/nodes/" + id);
  return reply.ok() ? reply->body : nlohmann::json::object();
}

std::int64_t Cluster::metric(const std::string& name) {
  const std::string text = api("GET", "/metrics").body.get<std::string>();
  const auto at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stoll(text.substr(at + name.size() + 2));
}

nlohmann::json Cluster::waitForCommand(const std::string& id, std::chrono::milliseconds timeout) {
  nlohmann::json command;
  eventually(
      [&] {
        auto reply = apiResult("GET", "/api/v1/commands/" + id);
        if (!reply) return false;
        command = reply->body;
        const std::string state = command.value("state", "");
        return state != "queued" && state != "dispatched" && state != "running";
      },
      timeout);
  return command;
}

std::pair<int, std::string> Cluster::cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {BERTH_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string log = root_ + "/cli-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()) + ".log";
  auto p = Process::spawn(argv, log, {"BERTH_CLI_CONFIG=" + serverDir() + "/cli.json"});
  int code = p->wait(std::chrono::seconds(30));
  return {code, p->log()};
}

struct RawAgentConnection::Impl {
  asio::io_context io;
  std::unique_ptr<net::ssl::context> tls;
  std::unique_ptr<net::WsStream> ws;
  beast::flat_buffer buffer;
};

protocol::Envelope rawAgentFrame(const std::string& node_id, protocol::FrameType type, std::int64_t lifetime_ms) {
  return protocol::newEnvelope(type, node_id, systemNowMs(), lifetime_ms);
}

RawAgentConnection::RawAgentConnection() : impl_(std::make_unique<Impl>()) {}
RawAgentConnection::~RawAgentConnection() = default;

Result<void> RawAgentConnection::connect(const std::string& url_text, const agent::AgentState& state) {
  auto url = net::parseUrl(url_text);
  if (!url) return url.error();
  auto tls = net::makeClientContext({state.ca_pem, state.cert_pem, state.key_pem});
  if (!tls) return tls.error();
  impl_->tls = std::move(*tls);
  impl_->ws = std::make_unique<net::WsStream>(impl_->io, *impl_->tls);
  try {
    asio::ip::tcp::resolver resolver(impl_->io);
    beast::get_lowest_layer(*impl_->ws).connect(resolver.resolve(url->host, url->port));
    impl_->ws->next_layer().handshake(asio::ssl::stream_base::client);
    impl_->ws->set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
      req.set(beast::http::field::sec_websocket_protocol, protocol::kSubprotocol);
    }));
    impl_->ws->handshake(url->host, "/agent/ws");
  } catch (const std::exception& e) {
    return makeError("connect_failed", e.what());
  }
  return Ok{};
}

void RawAgentConnection::send(const std::string& text) {
  impl_->ws->text(true);
  impl_->ws->write(asio::buffer(text));
}

std::optional<std::string> RawAgentConnection::read(std::chrono::milliseconds timeout) {
  std::optional<std::string> out;
  impl_->buffer.clear();
  impl_->ws->async_read(impl_->buffer, [&](beast::error_code ec, std::size_t) {
    if (!ec) out = beast::buffers_to_string(impl_->buffer.data());
  });
  impl_->io.restart();
  impl_->io.run_for(timeout);
  return out;
}

}  // namespace berth::itest

namespace berth::itest {

namespace {
// Runs a setup command the test cannot do without.
bool run(const std::vector<std::string>& argv, const std::string& log) {
  auto p = Process::spawn(argv, log);
  return p->wait() == 0;
}
}  // namespace

DockerDaemon::DockerDaemon() {
  if (!std::filesystem::exists("/usr/sbin/dockerd") && !std::filesystem::exists("/usr/bin/dockerd")) {
    ADD_FAILURE() << "dockerd is not installed (scripts/setup.sh installs docker.io)";
    return;
  }
  std::string pattern = "/tmp/berth-docker-XXXXXX";
  root = ::mkdtemp(pattern.data());
  socket = root + "/docker.sock";
  log_path = root + "/dockerd.log";
  // Subnets and a bridge of its own per daemon. Not --bridge none: dockerd then
  // deletes the host's docker0, which belongs to the machine's own daemon.
  static int counter = 0;
  int slot = static_cast<int>((::getpid() * 7 + ++counter * 13) % 250) + 1;
  // Not a /24 an interface already has: a test killed at ctest's time limit leaves its bridges
  // (and dockerd's) behind, and a second route to the same subnet made containers unreachable
  // for the tests after it.
  const auto taken = runProcess({"/usr/bin/env", "ip", "-o", "-4", "addr", "show"}, 5000);
  for (int tries = 0; taken && tries < 250; ++tries, slot = slot % 250 + 1) {
    const std::string s = std::to_string(slot);
    if (taken->output.find(" 10.231." + s + ".") == std::string::npos &&
        taken->output.find(" 10.232." + s + ".") == std::string::npos)
      break;
  }
  bridge = "bt" + std::to_string(::getpid() % 100000) + "x" + std::to_string(counter);
  const std::string setupLog = root + "/setup.log";
  if (!run({"/usr/bin/env", "ip", "link", "add", "name", bridge, "type", "bridge"}, setupLog) ||
      !run({"/usr/bin/env", "ip", "addr", "add", "10.232." + std::to_string(slot) + ".1/24", "dev", bridge}, setupLog) ||
      !run({"/usr/bin/env", "ip", "link", "set", bridge, "up"}, setupLog)) {
    ADD_FAILURE() << "cannot create bridge " << bridge << ": " << *pki::readFile(setupLog);
    return;
  }
  argv = {"/usr/bin/env", "dockerd", "--storage-driver", "vfs", "--data-root", root + "/data",
          "--exec-root", root + "/exec", "--pidfile", root + "/dockerd.pid", "--bridge", bridge,
          "--iptables=false", "--ip-masq=false", "-H", "unix://" + socket};
  process = Process::spawn(argv, log_path);
  if (!eventually([&] { return runtime::docker::DockerRuntime::create(socket).ok(); }, std::chrono::seconds(60))) {
    ADD_FAILURE() << "dockerd did not start: " << process->log();
    return;
  }
  docker = std::move(runtime::docker::DockerRuntime::create(socket).value());
  auto net = docker->request(
      "POST", "/networks/create",
      nlohmann::json{{"Name", "berth-test"},
                     {"Driver", "bridge"},
                     {"IPAM", {{"Config", {{{"Subnet", "10.231." + std::to_string(slot) + ".0/24"}}}}}}}
          .dump());
  if (!net || net->status != 201) ADD_FAILURE() << "network not created: " << (net ? net->body : net.error().message);
}

DockerDaemon::~DockerDaemon() {
  if (docker) {
    // Containers and the network first: dockerd leaves a network's bridge behind when it stops.
    // Retried: an agent still running may recreate a container in between.
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (auto ids = docker->list({}); ids) {
        for (const auto& id : *ids) (void)docker->remove(id, true);
      }
      // Every network but the built-in ones: berth-test, and the ones agents or tests created.
      bool allGone = true;
      if (auto listed = docker->request("GET", "/networks"); listed && listed->status == 200) {
        for (const auto& n : parseJsonOrDiscarded(listed->body)) {
          const std::string name = n.is_object() ? n.value("Name", std::string()) : "";
          if (name.empty() || name == "bridge" || name == "host" || name == "none") continue;
          auto deleted = docker->request("DELETE", "/networks/" + name);
          allGone &= deleted && (deleted->status == 204 || deleted->status == 404);
        }
      }
      if (allGone) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }
  docker.reset();
  if (process) {
    process->signal(SIGTERM);
    process->wait(std::chrono::seconds(20));
  }
  if (!bridge.empty()) run({"/usr/bin/env", "ip", "link", "del", bridge}, "/dev/null");
  if (!root.empty() && !::testing::Test::HasFailure()) std::filesystem::remove_all(root);
}

void DockerDaemon::stop() {
  if (!process) return;
  process->signal(SIGTERM);
  process->wait(std::chrono::seconds(60));
}

bool DockerDaemon::start() {
  process = Process::spawn(argv, log_path + ".restart");
  return eventually([&] { return runtime::docker::DockerRuntime::create(socket).ok(); }, std::chrono::seconds(60));
}

std::string DockerDaemon::networkGateway() {
  auto reply = docker->request("GET", "/networks/berth-test");
  if (!reply || reply->status != 200) return "";
  auto j = nlohmann::json::parse(reply->body, nullptr, false);
  try {
    const auto& config = j.at("IPAM").at("Config").at(0);
    if (config.contains("Gateway")) return config["Gateway"].get<std::string>();
    std::string subnet = config.at("Subnet");  // a.b.c.0/24 -> a.b.c.1, dockerd's default gateway
    return subnet.substr(0, subnet.rfind('.')) + ".1";
  } catch (...) {
    return "";
  }
}

std::string DockerDaemon::importBusybox(const std::string& repo, const std::string& tag,
                                        const std::map<std::string, std::string>& files) {
  const std::string rootfs = root + "/rootfs-" + tag;
  std::filesystem::create_directories(rootfs + "/bin");
  std::filesystem::copy_file("/bin/busybox", rootfs + "/bin/busybox",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::create_directories(rootfs + "/tmp");
  for (const auto& [path, content] : files) {
    std::filesystem::create_directories(std::filesystem::path(rootfs + path).parent_path());
    std::ofstream(rootfs + path) << content;
  }
  const std::string tarPath = root + "/rootfs-" + tag + ".tar";
  auto tar = Process::spawn({"/usr/bin/env", "tar", "-C", rootfs, "-cf", tarPath, "."}, root + "/tar.log");
  EXPECT_EQ(tar->wait(), 0) << tar->log();
  std::ifstream in(tarPath, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto reply = docker->request("POST", "/images/create?fromSrc=-&repo=" + repo + "&tag=" + tag, bytes,
                               "application/x-tar");
  EXPECT_TRUE(reply.ok() && reply->status == 200) << (reply ? reply->body : reply.error().message);
  auto image = docker->imageId(repo + ":" + tag);
  return image && *image ? **image : "";
}

}  // namespace berth::itest
