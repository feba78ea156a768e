// The one place that wires concrete classes together: parses the command
// line, picks the role (server, agent, dev, or a client command) and runs it.
#include <sodium.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <mutex>
#include <thread>

#include "agent/agent.hpp"
#include "agent/agent_state.hpp"
#include "cli/api_client.hpp"
#include "cli/cli.hpp"
#include "common/config.hpp"
#include "common/logging.hpp"
#include "common/version.hpp"
#include "net/tls_buffers.hpp"
#include "composition/agent_root.hpp"
#include "composition/dev_root.hpp"
#include "helper/helper_config.hpp"
#include "helper/helper_server.hpp"
#include "pki/sealed_file.hpp"
#include "store/store.hpp"
#include "server/server.hpp"

namespace {

using namespace berth;

// OpenSSL takes its memory hooks only before its first allocation, and Asio's
// openssl_init (a static object) allocates during static initialisation: this
// runs before every static initialiser of the binary (priority 101).
__attribute__((constructor(101))) void installOpenSslHooks() { (void)net::installTlsBufferPool(); }

// --foo-bar for every config key foo_bar; values land in `overrides` as strings.
void addConfigFlags(CLI::App* cmd, const std::vector<std::string>& keys,
                    std::map<std::string, std::string>& overrides, const std::string& over = "the config file and ") {
  for (const auto& key : keys) {
    std::string flag = "--" + key;
    for (auto& c : flag) c = c == '_' ? '-' : c;
    cmd->add_option_function<std::string>(
        flag, [&overrides, key](const std::string& v) { overrides[key] = v; },
        "Overrides '" + key + "' from " + over + "BERTH_" + key);
  }
}

nlohmann::json toJson(const std::map<std::string, std::string>& overrides) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : overrides) j[k] = v;
  return j;
}

// The server's composition: settings, then the store they ask for (today
// SQLite at <data_dir>/berth.db; the data directory is created 0700 first),
// then the server on top.
Result<std::unique_ptr<server::Server>> openServer(server::ServerOptions options) {
  auto config = server::loadServerConfig(options);
  if (!config) return config.error();
  if (auto r = pki::ensurePrivateDirectory(config->data_dir); !r) return r.error();
  auto store = store::openSqliteStore(config->data_dir + "/berth.db", config->sqlite_synchronous == "full");
  if (!store) return store.error();
  return server::Server::create(std::move(options), std::move(*config), std::move(*store));
}

// One descriptor per agent session: lift the soft limit (often 1024) to the
// hard one, as nginx's worker_rlimit_nofile or Go's runtime do.
void raiseDescriptorLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) log::warn("could not raise the open-files limit");
}

int runServer(const std::string& configFile, const std::map<std::string, std::string>& overrides) {
  raiseDescriptorLimit();
  log::setComponent("server");
  const std::string userContext = cli::userContextPath(processEnvironment());
  auto server = openServer({configFile, toJson(overrides), true, userContext});
  if (!server) {
    std::cerr << "error: " << server.error().message << "\n";
    return 1;
  }
  // The URL is the advertised one (advertise_url): the certificate names it.
  const auto& srv = **server;
  const auto key = srv.newAdminKey();
  std::cout << (key ? "berth server: first start" : "berth server") << "\n  API:       " << srv.apiUrl() << "\n";
  if (key) {
    std::cout << "  admin key: " << *key << "  (shown once; the CLI reads it from "
              << (userContext.empty() ? srv.config().data_dir + "/cli.json" : userContext) << ")\n";
  }
  std::cout << "  CA pin:    " << srv.caPin() << "\n  join:      berth agent --server " << srv.apiUrl()
            << " --join TOKEN --ca-pin " << srv.caPin() << "\n             (TOKEN from `berth token create`, which "
            << "prints this line whole)\n"
            << std::flush;
  (*server)->run();
  return 0;
}

Result<agent::AgentConfig> loadAgentConfig(const std::string& configFile,
                                           const std::map<std::string, std::string>& overrides) {
  auto file = loadConfigFile(configFile);
  if (!file) return file.error();
  auto merged = mergeConfig(*file, configFromEnvironment(agent::agentConfigKeys(), processEnvironment()));
  return agent::agentConfigFromJson(mergeConfig(merged, toJson(overrides)));
}

int runAgent(const std::string& configFile, const std::map<std::string, std::string>& overrides) {
  log::setComponent("agent");
  auto config = loadAgentConfig(configFile, overrides);
  if (!config) {
    std::cerr << "error: " << config.error().message << "\n";
    return 2;
  }
  log::Level level;
  if (log::parseLevel(config->log_level, level)) log::setLevel(level);
  auto agent = composition::makeAgent(*config);
  if (!agent) {
    std::cerr << "error: " << agent.error().message << " (" << agent.error().code << ")\n";
    return agent.error().code == "enroll_refused" || agent.error().code == "pin_mismatch" ? 4 : 1;
  }
  (*agent)->run();
  return 0;
}

// `berth helper`: root's small part on a node (docs/helper.md). SIGTERM/SIGINT end it.
int runHelper(const std::string& configFile, const std::map<std::string, std::string>& overrides) {
  log::setComponent("helper");
  auto file = loadConfigFile(configFile);
  if (!file) {
    std::cerr << "error: " << file.error().message << "\n";
    return 2;
  }
  auto merged = mergeConfig(*file, configFromEnvironment(helper::helperConfigKeys(), processEnvironment()));
  auto config = helper::helperConfigFromJson(mergeConfig(merged, toJson(overrides)));
  if (!config) {
    std::cerr << "error: " << config.error().message << "\n";
    return 2;
  }
  log::Level level;
  if (log::parseLevel(config->log_level, level)) log::setLevel(level);
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGTERM);
  sigaddset(&stopSignals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);  // before any thread: only the waiter below takes them
  auto server = helper::HelperServer::create(std::move(*config));
  if (!server) {
    std::cerr << "error: " << server.error().message << " (" << server.error().code << ")\n";
    return 1;
  }
  std::thread([&stopSignals, s = server->get()] {
    int sig = 0;
    sigwait(&stopSignals, &sig);
    s->stop();
  }).detach();
  (*server)->run();
  log::info("berth helper stopped");
  return 0;
}

// Server and one agent in this process, state under one data directory; apps
// at https://<app>.localhost with certificates from a local CA.
int runDev(const std::string& configFile, std::map<std::string, std::string> overrides,
           const std::map<std::string, std::string>& agentFlags) {
  raiseDescriptorLimit();
  log::setComponent("dev");
  if (!overrides.count("data_dir")) overrides["data_dir"] = "./berth-data";
  const std::string userContext = cli::userContextPath(processEnvironment());
  server::ServerOptions options{configFile, toJson(overrides), true, userContext};
  options.defaults = {{"base_domain", "localhost"}};  // <app>.localhost reaches this machine without DNS
  auto server = openServer(std::move(options));
  if (!server) {
    std::cerr << "error: " << server.error().message << "\n";
    return 1;
  }
  auto& srv = **server;
  const std::string dataDir = srv.config().data_dir;
  auto dev = composition::prepareDevAgent(dataDir, agentFlags, processEnvironment());
  if (!dev) {
    std::cerr << "error: " << dev.error().message << "\n";
    return 1;
  }
  std::cout << "berth dev\n  API:      " << srv.apiUrl() << "\n  CA pin:   " << srv.caPin()
            << "\n  data:     " << dataDir << "\n";
  const std::string contextShown = userContext.empty() ? dataDir + "/cli.json" : userContext;
  if (auto key = srv.newAdminKey()) {
    std::cout << "  admin key: " << *key << "  (shown once; the CLI reads it from " << contextShown << ")\n";
  }
  std::cout << "  try:      berth node ls   (context: " << contextShown << "; another one with --context "
            << dataDir << "/cli.json)\n";
  if (dev->certificates && srv.config().base_domain == "localhost")
    std::cout << composition::devHttpsBanner(dev->ports.https, dev->certificates->rootPath());
  for (const auto& warning : dev->ports.warnings) std::cout << "  warning:  " << warning << "\n";
  std::cout << std::flush;

  // The dev agent joins only once: --join on an enrolled state directory re-enrols.
  agent::AgentConfig agentConfig = std::move(dev->config);
  auto existing = agent::loadAgentState(agentConfig.state_dir);
  if (!existing || !existing->has_value()) {
    // Made before the server thread starts: the store belongs to that thread afterwards.
    auto created = srv.createJoinToken(300, "berth dev's own agent");
    if (!created) {
      std::cerr << "error: " << created.error().message << "\n";
      return 1;
    }
    agentConfig.join_token = *created;
  }
  std::unique_ptr<agent::Agent> devAgent;
  std::mutex agentMutex;
  bool serverStopped = false;
  std::thread serverThread([&] {
    srv.run();
    std::lock_guard lock(agentMutex);
    serverStopped = true;
    if (devAgent) devAgent->stop();
  });

  agentConfig.server_url = srv.apiUrl();
  agentConfig.ca_pin = srv.caPin();
  auto created = composition::makeAgent(agentConfig, dev->certificates);
  if (!created) {
    std::cerr << "error: the dev agent could not start: " << created.error().message << "\n";
    srv.stop();
    serverThread.join();
    return 1;
  }
  {
    std::lock_guard lock(agentMutex);
    devAgent = std::move(*created);
    if (serverStopped) devAgent->stop();  // Ctrl-C came during enrolment
  }
  std::cout << "  node:     " << devAgent->nodeId() << "\n  Ctrl-C stops both.\n" << std::flush;
  devAgent->run();
  serverThread.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (sodium_init() < 0) {
    std::cerr << "fatal: libsodium failed to initialise\n";
    return 1;
  }
  CLI::App app{"berth: a self-hosted platform-as-a-service (control plane, node agent and CLI in one binary)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("berth ") + kVersion, "Print the version and exit");
  std::function<int()> run;
  std::string configFile;
  std::map<std::string, std::string> overrides;
  std::map<std::string, std::string> devAgentFlags;  // the dev agent's own settings

  auto* serverCmd = app.add_subcommand("server", "Run the control plane");
  serverCmd->add_option("--config", configFile, "JSON config file");
  addConfigFlags(serverCmd, server::serverConfigKeys(), overrides);
  serverCmd->callback([&] { run = [&] { return runServer(configFile, overrides); }; });

  auto* agentCmd = app.add_subcommand("agent", "Run the node agent (dials out; never listens)");
  agentCmd->add_option("--config", configFile, "JSON config file");
  addConfigFlags(agentCmd, agent::agentConfigKeys(), overrides);
  agentCmd->callback([&] { run = [&] { return runAgent(configFile, overrides); }; });

  auto* helperCmd = app.add_subcommand("helper", "Run the node's root helper on a unix socket (exact verb allowlist)");
  helperCmd->add_option("--config", configFile, "JSON config file");
  addConfigFlags(helperCmd, helper::helperConfigKeys(), overrides);
  helperCmd->callback([&] { run = [&] { return runHelper(configFile, overrides); }; });

  auto* devCmd = app.add_subcommand("dev", "Run a server and one agent on this machine (SQLite, ./berth-data)");
  devCmd->add_option("--config", configFile, "JSON config file");
  addConfigFlags(devCmd, server::serverConfigKeys(), overrides);
  addConfigFlags(devCmd, composition::devAgentKeys(), devAgentFlags, "the dev agent's defaults and ");
  devCmd->callback([&] { run = [&] { return runDev(configFile, overrides, devAgentFlags); }; });

  app.add_subcommand("version", "Print the version")->callback([&] {
    run = [] {
      std::cout << "berth " << kVersion << "\n";
      return 0;
    };
  });

  cli::addClientCommands(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return cli::exit_code::kUsage;
  }
  return run ? run() : cli::exit_code::kUsage;
}
