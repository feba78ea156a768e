#include "server/server.hpp"
#include "common/json.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/signal_set.hpp>
#include <thread>
#include <set>

#include "common/config.hpp"
#include "common/ids.hpp"
#include "common/logging.hpp"
#include "net/tls.hpp"
#include "pki/sealed_file.hpp"
#include "server/api.hpp"
#include "server/auth_service.hpp"
#include "server/app_service.hpp"
#include "server/command_service.hpp"
#include "server/gateway.hpp"
#include "server/group_commit.hpp"
#include "server/host_facts.hpp"
#include "server/http_listener.hpp"
#include "server/identity.hpp"
#include "server/io_threads.hpp"
#include "net/tls_buffers.hpp"
#include "server/metrics.hpp"
#include "server/metrics_listener.hpp"
#include "store/store.hpp"

namespace berth::server {
namespace asio = boost::asio;

Result<ServerConfig> loadServerConfig(const ServerOptions& options) {
  auto file = loadConfigFile(options.config_file);
  if (!file) return file.error();
  auto merged = mergeConfig(mergeConfig(options.defaults, *file),
                            configFromEnvironment(serverConfigKeys(), processEnvironment()));
  merged = mergeConfig(merged, options.flag_overrides);
  return serverConfigFromJson(merged);
}

struct Server::Impl {
  // `io` (io_threads of them) runs sockets, TLS, HTTP parsing and frame
  // validation; `service` runs everything that touches the store (API
  // handlers, command queue, gateway sessions table), so a slow disk never
  // stalls the network. First member, so destroyed last: the gateway's
  // sessions hold WebSocket streams that need their io_context alive.
  std::unique_ptr<IoThreads> io;
  ServerOptions options;
  ServerConfig config;
  asio::io_context service{1};
  std::unique_ptr<store::Store> store;
  std::optional<ServerIdentity> identity;
  Advertised advertised;  // the URL's host and the certificate's names
  Metrics metrics;
  ClientCertificates certificates;
  std::unique_ptr<asio::ssl::context> tls;
  std::unique_ptr<GroupCommit> group_commit;
  std::unique_ptr<CommandService> commands;
  std::unique_ptr<Gateway> gateway;
  std::unique_ptr<AppService> apps;
  std::unique_ptr<AuthService> auth;
  std::unique_ptr<Api> api;
  std::unique_ptr<asio::steady_timer> retention_timer;
  std::unique_ptr<asio::steady_timer> audit_head_timer;
  std::unique_ptr<HttpListener> listener;
  std::unique_ptr<MetricsListener> metrics_listener;  // null when metrics_listen is ""
  std::optional<asio::signal_set> signals;
  std::optional<std::string> new_admin_key;
  Clock clock = systemNowMs;
  std::int64_t started_at = 0;

  // The TLS handshake's word on an agent certificate; logs every refusal with
  // the node and the reason, and persists the retirement of a previous serial.
  bool checkClient(const net::ClientCertificateCheck& check) {
    if (!check.chain_error.empty()) {
      log::warn("refused a client certificate", {{"node_id", check.common_name}, {"reason", check.chain_error}});
      return false;
    }
    auto decision = certificates.check(check.common_name, check.serial_hex);
    if (!decision.allowed) {
      const bool revoked = decision.reason == "node is revoked";
      log::warn(revoked ? "refused a revoked node's certificate" : "refused a client certificate",
                {{"node_id", check.common_name}, {"serial", check.serial_hex}, {"reason", decision.reason}});
      return false;
    }
    if (decision.retired_previous) {  // handshakes run on the network thread; the store lives on the service thread
      asio::post(service, [this, node_id = check.common_name] {
        auto r = store->transaction([&]() -> Result<void> {
          auto node = store->getNode(node_id);
          if (!node) return node.error();
          if (!*node) return Ok{};
          store::Node updated = **node;
          updated.previous_cert_serial.clear();
          return store->upsertNode(updated);
        });
        if (!r) log::error("previous certificate not retired in the store", {{"error", r.error().message}});
        log::info("renewed certificate in use; the previous one is retired", {{"node_id", node_id}});
      });
    }
    return true;
  }

  // App log retention, finished commands past their retention and expired join tokens, once a minute.
  void scheduleRetention() {
    retention_timer->expires_after(std::chrono::seconds(60));
    retention_timer->async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      apps->pruneLogs();
      pruneCommands();
      (void)store->transaction([this]() -> Result<void> {
        auto pruned = store->pruneJoinTokens(clock());
        if (!pruned) return pruned.error();
        return Ok{};
      });
      scheduleRetention();
    });
  }

  // In transactions of 1,000 rows, for at most 100 ms a minute: the service
  // thread is not held long, and a backlog (retention just lowered) goes over
  // a few minutes.
  void pruneCommands() {
    const std::int64_t days = config.command_retention_days;
    if (days == 0) return;
    constexpr std::size_t kRows = 1000;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
    std::int64_t total = 0;
    for (;;) {
      std::int64_t removed = 0;
      auto r = store->transaction([&]() -> Result<void> {
        const std::int64_t cutoff = clock() - days * 86'400'000;
        // The ids made at the cutoff's millisecond, less their random tail: every id made before sorts below.
        auto pruned = store->pruneCommands(cutoff, newTimeOrderedId("cmd", cutoff).substr(0, 16), kRows);
        if (!pruned) return pruned.error();
        removed = *pruned;
        return Ok{};
      });
      if (!r) {
        log::error("finished commands not pruned", {{"error", r.error().message}});
        break;
      }
      total += removed;
      if (removed < static_cast<std::int64_t>(kRows) || std::chrono::steady_clock::now() > until) break;
    }
    if (total > 0) log::info("finished commands past their retention removed", {{"commands", total}});
  }

  // The audit chain's head, at start and every hour: a copy kept outside the
  // database lets `berth audit verify --head` see its newest records removed.
  void logAuditHead() {
    auto head = store->auditHead();
    if (!head) {
      log::error("audit chain head not read", {{"error", head.error().message}});
      return;
    }
    log::info("audit chain head", {{"id", head->id}, {"hash", head->hash}, {"at", head->at}});
  }

  void scheduleAuditHead() {
    audit_head_timer->expires_after(std::chrono::hours(1));
    audit_head_timer->async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      logAuditHead();
      scheduleAuditHead();
    });
  }

  void watchSignals() {
    signals->async_wait([this](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        auto r = reloadConfig();
        if (!r) log::error("reload failed; keeping the previous settings", {{"error", r.error().message}});
        watchSignals();
        return;
      }
      log::info("stopping", {{"signal", signal}});
      shutdown();
    });
  }

  Result<void> reloadConfig() {
    auto fresh = loadServerConfig(options);
    if (!fresh) return fresh.error();
    auto reload = applyReload(config, *fresh);
    if (!reload.ignored.empty()) {
      std::string keys;
      for (const auto& key : reload.ignored) keys += (keys.empty() ? "" : ", ") + key;
      log::warn("these settings change only on restart; still running with the old values",
                {{"settings", keys}});
    }
    config = reload.config;  // the services hold a reference to this struct
    log::Level level;
    if (log::parseLevel(config.log_level, level)) log::setLevel(level);
    gateway->broadcastConfig();
    log::info("configuration reloaded", {{"config", toJson(config)}});
    return Ok{};
  }

  // On the service thread.
  void shutdown() {
    asio::post(io->first(), [this] {
      listener->stop();
      if (metrics_listener) metrics_listener->stop();
    });
    gateway->stop();
    if (retention_timer) retention_timer->cancel();
    if (audit_head_timer) audit_head_timer->cancel();
    group_commit->flushNow();
    if (signals) signals->cancel();
    // Give close frames a moment to leave, then stop both loops.
    auto timer = std::make_shared<asio::steady_timer>(service, std::chrono::milliseconds(200));
    timer->async_wait([this, timer](const boost::system::error_code&) {
      io->stop();
      service.stop();
    });
  }
};

namespace {
// mkdir -p with `mode` for the directories it creates.
bool makeDirectories(const std::filesystem::path& dir, mode_t mode) {
  if (dir.empty() || std::filesystem::exists(dir)) return true;
  if (!makeDirectories(dir.parent_path(), mode)) return false;
  return ::mkdir(dir.c_str(), mode) == 0 || errno == EEXIST;
}

// The CLI context: <data_dir>/cli.json (for `--context`) and the user's
// ~/.config/berth/cli.json (read by default), 0600 in a 0700 directory, with
// absolute paths so the CLI works from any directory. The admin key is only
// known on the first start, so later starts keep the stored one.
Result<void> writeCliContext(const Server& server, const std::string& user_path) {
  const std::string path = server.config().data_dir + "/cli.json";
  std::string key = server.newAdminKey().value_or("");
  if (key.empty() && pki::fileExists(path)) {
    auto text = pki::readFile(path);
    auto old = text ? parseJsonOrDiscarded(*text) : nlohmann::json();
    if (old.is_object()) key = old.value("api_key", std::string());
  }
  std::error_code ec;
  const auto caFile = std::filesystem::absolute(server.caCertPath(), ec).lexically_normal().string();
  const std::string text =
      nlohmann::json{{"server", server.apiUrl()}, {"ca_file", caFile}, {"api_key", key}}.dump(2);
  if (auto r = pki::writePrivateFile(path, text); !r) return r.error();
  if (user_path.empty()) return Ok{};
  const auto dir = std::filesystem::path(user_path).parent_path();
  if (!makeDirectories(dir, 0700)) {
    log::warn("CLI context not written", {{"path", user_path}, {"error", std::strerror(errno)}});
    return Ok{};
  }
  ::chmod(dir.c_str(), 0700);
  if (auto r = pki::writePrivateFile(user_path, text); !r) {
    log::warn("CLI context not written", {{"path", user_path}, {"error", r.error().message}});
  }
  return Ok{};
}
}  // namespace

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Server>> Server::create(ServerOptions options, ServerConfig config,
                                               std::unique_ptr<store::Store> store) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->config = std::move(config);
  log::Level level;
  if (log::parseLevel(impl->config.log_level, level)) log::setLevel(level);
  const auto& dataDir = impl->config.data_dir;
  if (auto r = pki::ensurePrivateDirectory(dataDir); !r) return r.error();
  for (const auto& dir : {dataDir, dataDir + "/pki"})  // left by a kill mid-write
    if (auto n = pki::removeStaleTempFiles(dir)) log::info("stale temp files removed", {{"count", n}, {"dir", dir}});
  impl->started_at = impl->clock();
  impl->io = std::make_unique<IoThreads>(ioThreadCount(impl->config.io_threads, std::thread::hardware_concurrency()));
  impl->store = std::move(store);
  auto advertised =
      planAdvertising(impl->config.listen, impl->config.advertise_url, impl->config.server_names, readHostFacts());
  if (!advertised) return advertised.error();
  impl->advertised = std::move(*advertised);
  auto identity = loadOrCreateIdentity(dataDir + "/pki", impl->advertised.certificate_names, impl->clock());
  if (!identity) return identity.error();
  impl->identity = std::move(*identity);

  // The first start makes the first owner (docs/access.md); it never runs again once one exists.
  impl->auth = std::make_unique<AuthService>(*impl->store, impl->clock);
  auto boot = impl->auth->bootstrap();
  if (!boot) return boot.error();
  if (*boot) impl->new_admin_key = (*boot)->key;
  auto nodes = impl->store->listNodes();
  if (!nodes) return nodes.error();
  // No session survives a restart; one transaction, not one commit per node
  // (10,000 fsyncs would delay a restart by minutes).
  auto marked = impl->store->transaction([&]() -> Result<void> {
    for (const auto& node : *nodes) {
      impl->certificates.set(node.id, {node.cert_serial, node.previous_cert_serial,
                                       node.status == store::NodeStatus::Revoked});
      if (node.status != store::NodeStatus::Online) continue;
      store::Node stale = node;
      stale.status = store::NodeStatus::Unreachable;
      if (auto r = impl->store->upsertNode(stale); !r) return r;
    }
    return Ok{};
  });
  if (!marked) log::error("nodes not marked unreachable at start", {{"error", marked.error().message}});

  net::ServerTlsConfig tlsConfig;
  tlsConfig.cert_chain_pem = impl->identity->server_cert_pem;
  tlsConfig.key_pem = impl->identity->server_key_pem;
  tlsConfig.client_ca_pem = impl->identity->ca.certPem();
  tlsConfig.check_client = [i = impl.get()](const net::ClientCertificateCheck& check) { return i->checkClient(check); };
  auto tls = net::makeServerContext(tlsConfig);
  if (!tls) return tls.error();
  impl->tls = std::move(*tls);

  impl->group_commit = std::make_unique<GroupCommit>(impl->service.get_executor(), *impl->store);
  impl->group_commit->attach();
  impl->commands = std::make_unique<CommandService>(*impl->store, impl->metrics, impl->clock, impl->config);
  if (auto r = impl->commands->load(); !r) return r.error();
  impl->gateway = std::make_unique<Gateway>(impl->service.get_executor(), *impl->store,
                                            *impl->commands, impl->metrics, impl->clock, impl->config, *impl->identity);
  auto secretsKey = pki::loadSealingKey(dataDir + "/pki/secrets.key");
  if (!secretsKey) return secretsKey.error();
  impl->apps = std::make_unique<AppService>(*impl->store, *impl->commands, impl->metrics, impl->clock, impl->config,
                                            *secretsKey, impl->service.get_executor());
  impl->commands->onQueued([gateway = impl->gateway.get()](const std::string& node) { gateway->pump(node); });
  impl->commands->onFinished([apps = impl->apps.get()](const store::Command& c) { apps->onCommandFinished(c); });
  impl->gateway->setDispatchArgs([apps = impl->apps.get()](const store::Command& c) { return apps->dispatchArgs(c); });
  impl->gateway->setAppListener([apps = impl->apps.get()](const std::string& node, const protocol::AppFrame& e) {
    apps->onAgentFrame(node, e);
  });
  // The advertised URL is read from the service thread; the port is fixed before either thread starts.
  impl->api = std::make_unique<Api>(
      ApiDependencies{*impl->store, *impl->commands, *impl->gateway, *impl->apps, *impl->auth, impl->metrics, impl->config,
                      *impl->identity, impl->clock, impl->started_at, impl->certificates,
                      [i = impl.get()] { return advertisedUrl(i->advertised, i->listener->port()); }});
  impl->listener =
      std::make_unique<HttpListener>(impl->io->first().get_executor(), [io = impl->io.get()] { return io->next(); },
                                     impl->service.get_executor(), *impl->tls, *impl->api,
                                     *impl->gateway, *impl->group_commit, impl->config, impl->metrics);
  if (auto r = impl->listener->listen(impl->config.listen); !r) return r.error();
  if (!impl->config.metrics_listen.empty()) {
    impl->metrics_listener = std::make_unique<MetricsListener>(impl->io->first().get_executor(), impl->service.get_executor(),
                                                               [api = impl->api.get()] { return api->metrics().body; });
    // A port another process holds (a second berth on the host) costs the local
    // scrape, not the control plane: logged, and the server starts without it.
    if (auto r = impl->metrics_listener->listen(impl->config.metrics_listen); !r) {
      log::error("metrics listener not started", {{"error", r.error().message}});
      impl->metrics_listener.reset();
    }
  }

  auto server = std::unique_ptr<Server>(new Server(std::move(impl)));
  if (auto r = writeCliContext(*server, server->impl_->options.user_context_path); !r) return r.error();
  return server;
}

void Server::run() {
  auto& i = *impl_;
  if (i.options.handle_signals) {
    i.signals.emplace(i.service, SIGINT, SIGTERM, SIGHUP);
    i.watchSignals();
  }
  i.listener->start();
  if (i.metrics_listener) i.metrics_listener->start();
  i.gateway->start();
  i.retention_timer = std::make_unique<asio::steady_timer>(i.service);
  i.scheduleRetention();
  i.logAuditHead();
  i.audit_head_timer = std::make_unique<asio::steady_timer>(i.service);
  i.scheduleAuditHead();
  log::info("server listening", {{"url", apiUrl()},
                                 {"listen", i.config.listen},
                                 {"metrics_port", metricsPort()},
                                 {"certificate_names", i.advertised.certificate_names},
                                 {"ca_pin", caPin()},
                                 {"io_threads", i.io->size()},
                                 // net/tls_buffers: record buffers reused per thread (false: OpenSSL uses malloc)
                                 {"tls_buffer_pool", net::tlsBufferPoolInstalled()}});
  auto serviceWork = asio::make_work_guard(i.service);
  std::thread serviceThread([&i] {
    nameThisThread("berth-service");
    i.service.run();
  });
  struct Join {  // also when the network loop throws
    asio::io_context& service;
    std::thread& thread;
    ~Join() {
      service.stop();
      thread.join();
    }
  } join{i.service, serviceThread};
  i.io->run();
}

Server::~Server() {
  if (impl_ && impl_->group_commit) impl_->group_commit->flushNow();  // writes made while the loops wound down
}

void Server::stop() {
  asio::post(impl_->service, [this] { impl_->shutdown(); });
}

Result<void> Server::reload() { return impl_->reloadConfig(); }

std::string Server::apiUrl() const { return advertisedUrl(impl_->advertised, impl_->listener->port()); }
std::uint16_t Server::metricsPort() const { return impl_->metrics_listener ? impl_->metrics_listener->port() : 0; }
std::string Server::caPin() const { return impl_->identity->ca_pin; }
std::string Server::caCertPath() const { return impl_->config.data_dir + "/pki/ca.crt"; }
const ServerConfig& Server::config() const { return impl_->config; }
std::optional<std::string> Server::newAdminKey() const { return impl_->new_admin_key; }

Result<std::string> Server::createJoinToken(int ttl_s, const std::string& description) {
  auto issued = issueJoinToken(*impl_->store, impl_->clock(), ttl_s, description);
  if (!issued) return issued.error();
  return issued->secret;
}

}  // namespace berth::server
