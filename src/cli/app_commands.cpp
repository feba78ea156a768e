// berth app ... and berth logs: the CLI side of /api/v1/apps. Long operations
// poll until the deployment is healthy or failed (or the command finished),
// printing each state change; --detach returns at once.
#include <fmt/format.h>

#include <chrono>
#include <iostream>
#include <thread>

#include "cli/cli.hpp"
#include "common/json.hpp"
#include "cli/cli_common.hpp"
#include "common/config.hpp"
#include "common/encoding.hpp"
#include "common/states.hpp"

namespace berth::cli {
namespace {
using namespace detail;

Result<ApiClient> client(const Options& o) {
  auto settings = resolveClientSettings(o.flags, processEnvironment());
  if (!settings) return settings.error();
  return ApiClient::create(*settings);
}

// "K=V" -> {K, V}.
Result<std::pair<std::string, std::string>> keyValue(const std::string& flag, const std::string& text) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) return makeError("usage", flag + " wants KEY=VALUE, got '" + text + "'");
  return std::pair{text.substr(0, eq), text.substr(eq + 1)};
}

// `app`: for a call that may start a deployment (a rollback), the app whose log cursor is
// taken first, so the deployment's build lines are followed from before it began.
int post(const Options& o, const std::string& method, const std::string& target, const nlohmann::json& body,
         bool detach, const std::string& app = "") {
  auto api = client(o);
  if (!api) return fail(api.error());
  const std::int64_t cursor = !app.empty() && !detach && !o.json ? logCursorNow(*api, app) : 0;
  auto reply = api->call(method, target, body);
  if (!reply) return fail(reply.error());
  return follow(o, *api, reply->body, detach, cursor);
}

struct DeployFlags {
  std::string file, image, health, health_interval, health_timeout, health_start, cpu, memory, swap, disk, net_in,
      net_out, registry_user, registry_password_env, pull, user, drain, watch, hold;
  std::vector<std::string> command, env, secrets, volumes, health_command, caps;
  int port = 0, publish = 0, health_retries = 0, replicas = -1, pids = 0;
  bool read_only = false;
  bool publish_public = false;
  bool allow_downtime = false;
  bool hsts = false;
};

Result<nlohmann::json> limitsFrom(const DeployFlags& f) {
  nlohmann::json limits = nlohmann::json::object();
  for (auto [key, value] : {std::pair{"cpu", &f.cpu}, std::pair{"memory", &f.memory}, std::pair{"swap", &f.swap},
                            std::pair{"disk", &f.disk}, std::pair{"net_in", &f.net_in},
                            std::pair{"net_out", &f.net_out}}) {
    if (!value->empty()) limits[key] = *value;
  }
  if (f.pids) limits["pids"] = f.pids;
  return limits;
}

Result<nlohmann::json> deployBody(const DeployFlags& f) {
  nlohmann::json body = nlohmann::json::object();
  if (!f.file.empty()) {
    std::ifstream in(f.file);
    if (!in) return makeError("usage", "cannot read " + f.file);
    body = parseJsonOrDiscarded(std::string(std::istreambuf_iterator<char>(in), {}));
    if (!body.is_object()) return makeError("usage", f.file + " is not a JSON object");
  }
  if (!f.image.empty()) body["image"] = f.image;
  if (!f.command.empty()) body["command"] = f.command;
  for (auto [flag, list, key] : {std::tuple{"--env", &f.env, "env"}, std::tuple{"--secret", &f.secrets, "secrets"}}) {
    for (const auto& item : *list) {
      auto kv = keyValue(flag, item);
      if (!kv) return kv.error();
      body[key][kv->first] = kv->second;
    }
  }
  for (const auto& v : f.volumes) {
    auto colon = v.find(':');
    if (colon == std::string::npos || colon == 0) return makeError("usage", "--volume wants NAME:/path, got '" + v + "'");
    body["volumes"][v.substr(0, colon)] = v.substr(colon + 1);
  }
  if (f.port) body["port"] = f.port;
  if (f.publish) body["publish"] = f.publish;
  if (f.publish_public) body["publish_public"] = true;
  if (!f.health.empty()) {
    nlohmann::json h;
    if (f.health.rfind("http:", 0) == 0) h = {{"type", "http"}, {"path", f.health.substr(5)}};
    else if (f.health == "http") h = {{"type", "http"}};
    else if (f.health == "tcp") h = {{"type", "tcp"}};
    else if (f.health == "cmd" || f.health == "command") h = {{"type", "command"}, {"command", f.health_command}};
    else return makeError("usage", "--health must be http[:/path], tcp or cmd (with --health-cmd ARG...)");
    if (!f.health_interval.empty()) h["interval"] = f.health_interval;
    if (!f.health_timeout.empty()) h["timeout"] = f.health_timeout;
    if (!f.health_start.empty()) h["start_period"] = f.health_start;
    if (f.health_retries) h["retries"] = f.health_retries;
    body["health_check"] = h;
  }
  auto limits = limitsFrom(f);
  if (!limits) return limits.error();
  if (!limits->empty()) body["limits"] = *limits;
  if (f.replicas >= 0) body["replicas"] = f.replicas;
  if (!f.caps.empty()) body["capabilities"] = f.caps;
  if (f.read_only) body["read_only"] = true;
  if (!f.pull.empty()) body["pull"] = f.pull;
  if (!f.drain.empty()) body["drain"] = f.drain;
  if (!f.watch.empty()) body["watch"] = f.watch;
  if (!f.hold.empty()) body["hold"] = f.hold;
  if (f.allow_downtime) body["allow_downtime"] = true;
  if (f.hsts) body["hsts"] = true;
  if (!f.user.empty()) body["user"] = f.user;
  if (!f.registry_user.empty()) {
    const char* password = f.registry_password_env.empty() ? nullptr : std::getenv(f.registry_password_env.c_str());
    if (!password) return makeError("usage", "--registry-user needs --registry-password-env NAME of a set variable");
    body["registry_auth"] = {{"username", f.registry_user}, {"password", password}};
  }
  return body;
}

void addLimitFlags(CLI::App* cmd, DeployFlags& f) {
  cmd->add_option("--cpu", f.cpu, "CPU limit: 0.5 or 500m");
  cmd->add_option("--memory", f.memory, "Memory limit: 256m, 1g");
  cmd->add_option("--swap", f.swap, "Swap on top of memory (0 = none)");
  cmd->add_option("--pids", f.pids, "Process limit");
  cmd->add_option("--net-in", f.net_in, "Bandwidth into the app: 10mbit");
  cmd->add_option("--net-out", f.net_out, "Bandwidth out of the app: 10mbit");
}

}  // namespace

void addAppCommands(CLI::App& root, std::function<int()>& run) {
  auto o = std::make_shared<Options>();
  auto common = commonOptions(o);
  auto name = std::make_shared<std::string>();
  auto detach = std::make_shared<bool>(false);
  auto app = root.add_subcommand("app", "Deploy and run apps from container images")->require_subcommand(1);

  auto* create = app->add_subcommand("create", "Create an app (placed on --node, or a node matching --label)");
  auto node = std::make_shared<std::string>();
  auto labels = std::make_shared<std::vector<std::string>>();
  auto keep = std::make_shared<int>(0);
  create->add_option("name", *name, "App name (DNS label)")->required();
  create->add_option("--node", *node, "Node id");
  create->add_option("--label", *labels, "Node label KEY=VALUE the node must carry");
  create->add_option("--keep", *keep, "Older deployments kept for rollback");
  common(create);
  create->callback([&run, o, name, node, labels, keep] {
    run = [o, name, node, labels, keep]() -> int {
      nlohmann::json body = {{"name", *name}};
      if (!node->empty()) body["node"] = *node;
      for (const auto& l : *labels) {
        auto kv = keyValue("--label", l);
        if (!kv) return fail(kv.error());
        body["labels"][kv->first] = kv->second;
      }
      if (*keep) body["keep"] = *keep;
      return request(*o, "POST", "/api/v1/apps", body, [](const nlohmann::json& a) {
        std::cout << fmt::format("app {} created{}\n", str(a, "name"),
                                 a.value("node_id", std::string()).empty() ? "" : " on node " + str(a, "node_id"));
      });
    };
  });

  auto* ls = app->add_subcommand("ls", "List apps");
  common(ls);
  ls->callback([&run, o] {
    run = [o] {
      return request(*o, "GET", "/api/v1/apps", nullptr, [](const nlohmann::json& list) {
        std::cout << fmt::format("{:<24} {:<22} {:<9} {:<6} {:<11} {}\n", "NAME", "NODE", "DESIRED", "DEPL",
                                 "STATE", "IMAGE");
        for (const auto& a : list) {
          std::cout << fmt::format("{:<24} {:<22} {:<9} {:<6} {:<11} {}\n", str(a, "name"), str(a, "node_id"),
                                   str(a, "desired"), str(a, "current_deployment"), str(a, "state"), str(a, "image"));
        }
      });
    };
  });

  auto* show = app->add_subcommand("show", "Show an app and its deployments");
  show->add_option("name", *name)->required();
  common(show);
  show->callback([&run, o, name] {
    run = [o, name] {
      return request(*o, "GET", "/api/v1/apps/" + *name, nullptr, [](const nlohmann::json& a) {
        std::cout << fmt::format("name:     {}\nnode:     {}\ndesired:  {}\ncurrent:  {}\n", str(a, "name"),
                                 str(a, "node_id"), str(a, "desired"), str(a, "current_deployment"));
        if (const auto& c = a.value("current", nlohmann::json()); c.is_object() && c.contains("source_ref") &&
                                                                  !c.value("source_ref", std::string()).empty())
          std::cout << fmt::format("source:   {} at {}\ncommit:   {}\n", str(c.value("spec", nlohmann::json::object()).value("source", nlohmann::json::object()), "git"),
                                   str(c, "source_ref"),
                                   c.value("commit", std::string()).empty() ? "(not built yet)" : str(c, "commit"));
        if (!a["containers"].empty()) {
          std::cout << fmt::format("\n{:<5} {:<8} {:>7} {:>10} {:>10} {:>10}   (reported {})\n", "DEPL", "REPLICA",
                                   "CPU %", "MEMORY", "NET IN", "NET OUT",
                                   ago(a.value("containers_reported_at", std::int64_t{0})));
          for (const auto& c : a["containers"]) {
            std::cout << fmt::format("{:<5} {:<8} {:>7.1f} {:>9}K {:>9}K {:>9}K\n", str(c, "deployment"),
                                     str(c, "replica"), c.value("cpu_percent", 0.0),
                                     c.value("memory_bytes", std::int64_t{0}) / 1024,
                                     c.value("net_rx_bytes", std::int64_t{0}) / 1024,
                                     c.value("net_tx_bytes", std::int64_t{0}) / 1024);
          }
        }
        if (a.contains("domains") && a["domains"].is_array() && !a["domains"].empty()) {
          std::cout << "\n";
          printDomains(a["domains"]);
        }
        std::cout << fmt::format("\n{:<5} {:<11} {:<18} {:<40} {}\n", "DEPL", "STATE", "SOURCE", "IMAGE", "REASON");
        for (const auto& d : a["deployments"]) {
          std::cout << fmt::format("{:<5} {:<11} {:<18} {:<40} {}\n", str(d, "number"), str(d, "state"),
                                   str(d, "source"), d.value("image", std::string()).substr(0, 40),
                                   d.value("reason", std::string()));
        }
      });
    };
  });

  auto f = std::make_shared<DeployFlags>();
  auto git = std::make_shared<SourceFlags>();
  auto* deploy = app->add_subcommand("deploy", "Deploy a new version and wait until it is healthy or failed");
  deploy->add_option("name", *name)->required();
  deploy->add_option("-f,--file", f->file, "Deployment spec as JSON (flags override its fields)");
  deploy->add_option("--image", f->image, "Image reference (tag or digest)");
  deploy->add_option("--arg", f->command, "Command argv, one --arg per word (no shell)");
  deploy->add_option("-e,--env", f->env, "Environment KEY=VALUE");
  deploy->add_option("--secret", f->secrets, "Secret KEY=VALUE (encrypted at rest, never shown)");
  deploy->add_option("-v,--volume", f->volumes, "Named volume NAME:/mount/path");
  deploy->add_option("--port", f->port, "Port the app listens on");
  deploy->add_option("--publish", f->publish, "Host port bound to --port (on 127.0.0.1 only)");
  deploy->add_flag("--publish-public", f->publish_public, "Bind the --publish port on every host address");
  deploy->add_option("--health", f->health, "http[:/path], tcp or cmd");
  deploy->add_option("--health-cmd", f->health_command, "Health command argv, one per flag");
  deploy->add_option("--health-interval", f->health_interval, "e.g. 2s");
  deploy->add_option("--health-timeout", f->health_timeout, "e.g. 1s");
  deploy->add_option("--health-retries", f->health_retries, "Failures before the deployment fails");
  deploy->add_option("--health-start-period", f->health_start, "Grace time before failures count");
  addLimitFlags(deploy, *f);
  deploy->add_option("--disk", f->disk, "Writable layer size limit (storage driver permitting)");
  deploy->add_option("--replicas", f->replicas, "Containers to run");
  deploy->add_option("--cap", f->caps, "Capability to keep (all others are dropped)");
  deploy->add_flag("--read-only", f->read_only, "Read-only root filesystem");
  deploy->add_option("--user", f->user, "Run as uid[:gid] (default: the image's USER)");
  deploy->add_option("--drain", f->drain, "After the switch, time the old version keeps for its in-flight requests (default 30s)");
  deploy->add_option("--watch", f->watch, "After the switch, time the new version is watched and switched back from if it fails (default 60s; 0 = off)");
  deploy->add_option("--hold", f->hold, "While no container can take a request (starting, restarting), requests wait this long, then get 503 (default 10s; 0 = 503 at once)");
  deploy->add_flag("--hsts", f->hsts, "With HTTPS, send Strict-Transport-Security on every answer");
  deploy->add_flag("--allow-downtime", f->allow_downtime, "When the node cannot run both versions at once, stop the old one first");
  deploy->add_option("--pull", f->pull, "always | missing (default: always for a named registry, missing for Docker Hub)");
  deploy->add_option("--registry-user", f->registry_user, "Registry user name");
  deploy->add_option("--registry-password-env", f->registry_password_env, "Variable holding the registry password");
  auto* detachFlag = deploy->add_flag("--detach", *detach, "Return once the deployment is queued");
  auto followDeploy = std::make_shared<bool>(false);  // waiting is the default: the flag says it, --detach not
  deploy->add_flag("--follow", *followDeploy, "Print the build's lines, the pull's progress and the deployment's states until it "
                               "is healthy or failed (the default; see docs/builds.md)")
      ->excludes(detachFlag);
  deploy->add_option("--node", *node, "For a new app: the node to place it on (default: any online node)");
  addSourceDeployFlags(deploy, *git);
  common(deploy);
  // followDeploy is captured only to outlive the parse, which writes to it (read nowhere else).
  deploy->callback([&run, o, name, f, detach, node, git, followDeploy] {
    run = [o, name, f, detach, node, git]() -> int {
      auto body = deployBody(*f);
      if (!body) return fail(body.error());
      if (auto r = addSourceToBody(*git, *body); !r) return fail(r.error());
      auto credentials = sourceCredentialsBody(*git, processEnvironment());
      if (!credentials) return fail(credentials.error());
      auto api = client(*o);
      if (!api) return fail(api.error());
      if (!credentials->is_null()) {
        // The app's source credentials first (the app is created for them when new), so the
        // deploy's fetch has them; the token travels in the body, sealed by the server.
        const std::string app = "/api/v1/apps/" + percentEncode(*name, "");
        auto existing = api->call("GET", app);
        if (!existing && existing.error().code == "not_found") {
          nlohmann::json create = {{"name", *name}};
          if (!node->empty()) create["node"] = *node;
          if (auto made = api->call("POST", "/api/v1/apps", create); !made) return fail(made.error());
        } else if (!existing) {
          return fail(existing.error());
        }
        if (auto put = api->call("PUT", app + "/source", *credentials); !put) return fail(put.error());
      }
      // The first deploy of a new app creates it (like Kamal), in the same
      // request, so a refused spec leaves no app behind.
      std::string target = "/api/v1/apps/" + *name + "/deployments?create=1";
      if (!node->empty()) {
        if (node->find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
            std::string::npos)
          return fail(makeError("usage", "--node: a node id has only letters, digits, '_', '.' and '-'"));
        target += "&node=" + *node;
      }
      // The log's cursor before the deployment exists: its build lines are all after it.
      const std::int64_t cursor = *detach || o->json ? 0 : logCursorNow(*api, *name);
      auto reply = api->call("POST", target, *body);
      if (!reply) return fail(reply.error());
      return follow(*o, *api, reply->body, *detach, cursor);
    };
  });

  for (const char* verb : {"start", "stop", "restart"}) {
    auto* cmd = app->add_subcommand(verb, std::string("Lifecycle: ") + verb + " the app (idempotent)");
    cmd->add_option("name", *name)->required();
    cmd->add_flag("--detach", *detach, "Return at once");
    common(cmd);
    cmd->callback([&run, o, name, detach, verb] {
      run = [o, name, detach, verb] {
        return post(*o, "POST", "/api/v1/apps/" + *name + "/" + verb, nlohmann::json::object(), *detach);
      };
    });
  }

  auto volumes = std::make_shared<bool>(false);
  auto force = std::make_shared<bool>(false);
  auto* del = app->add_subcommand("delete", "Remove the app's containers (and --volumes) and forget it");
  del->add_option("name", *name)->required();
  del->add_flag("--volumes", *volumes, "Remove its named volumes too");
  del->add_flag("--force", *force, "Forget the app now even if its node is offline (the node cleans up when it can)");
  del->add_flag("--detach", *detach, "Return at once");
  common(del);
  del->callback([&run, o, name, volumes, force, detach] {
    run = [o, name, volumes, force, detach] {
      std::string query = *volumes ? "?volumes=1" : "";
      if (*force) query += (query.empty() ? "?" : "&") + std::string("force=1");
      return post(*o, "DELETE", "/api/v1/apps/" + *name + query, nullptr, *detach || *force);
    };
  });

  auto to = std::make_shared<int>(0);
  auto* rollback = app->add_subcommand("rollback", "Deploy an earlier deployment's exact config and image digest");
  rollback->add_option("name", *name)->required();
  rollback->add_option("--to", *to, "Deployment number (default: the one before the current)");
  rollback->add_flag("--detach", *detach, "Return at once");
  common(rollback);
  rollback->callback([&run, o, name, to, detach] {
    run = [o, name, to, detach] {
      nlohmann::json body = nlohmann::json::object();
      if (*to) body["to"] = *to;
      return post(*o, "POST", "/api/v1/apps/" + *name + "/rollback", body, *detach, *name);
    };
  });

  auto replicas = std::make_shared<int>(1);
  auto* scale = app->add_subcommand("scale", "Run N containers of the current deployment");
  scale->add_option("name", *name)->required();
  scale->add_option("replicas", *replicas)->required();
  scale->add_flag("--detach", *detach, "Return at once");
  common(scale);
  scale->callback([&run, o, name, replicas, detach] {
    run = [o, name, replicas, detach] {
      return post(*o, "POST", "/api/v1/apps/" + *name + "/scale", {{"replicas", *replicas}}, *detach);
    };
  });

  auto* limits = app->add_subcommand("limits", "Resource limits")->require_subcommand(1);
  auto* limitsSet = limits->add_subcommand("set", "Change limits on the running containers, without a restart");
  limitsSet->add_option("name", *name)->required();
  addLimitFlags(limitsSet, *f);
  limitsSet->add_flag("--detach", *detach, "Return at once");
  common(limitsSet);
  limitsSet->callback([&run, o, name, f, detach] {
    run = [o, name, f, detach]() -> int {
      auto body = limitsFrom(*f);
      if (!body) return fail(body.error());
      if (body->empty()) return fail(makeError("usage", "give at least one limit (--cpu, --memory, ...)"));
      return post(*o, "POST", "/api/v1/apps/" + *name + "/limits", *body, *detach);
    };
  });

  auto* events = app->add_subcommand("events", "What happened to the app, oldest first");
  events->add_option("name", *name)->required();
  common(events);
  events->callback([&run, o, name] {
    run = [o, name] {
      return request(*o, "GET", "/api/v1/apps/" + *name + "/events", nullptr, [](const nlohmann::json& list) {
        for (const auto& e : list) {
          std::cout << fmt::format("{:<14} d{:<4} {:<18} {}\n", ago(e.value("at", std::int64_t{0})),
                                   str(e, "deployment"), str(e, "state"), e.value("reason", std::string()));
        }
      });
    };
  });

  addDomainCommands(*app, run);
  addSourceCommands(*app, run);

  auto followFlag = std::make_shared<bool>(false);
  auto since = std::make_shared<std::string>();
  auto after = std::make_shared<long long>(0);
  auto tail = std::make_shared<std::string>("100");
  auto* logs = root.add_subcommand("logs", "An app's stdout and stderr");
  logs->add_option("name", *name)->required();
  logs->add_flag("-f,--follow", *followFlag, "Keep printing new lines");
  logs->add_option("--since", *since, "Only lines newer than this: 10m, 2h");
  logs->add_option("--after", *after, "Only lines after this cursor (printed with --json)");
  logs->add_option("--tail", *tail, "The last N lines (default 100), or all");
  common(logs);
  logs->callback([&run, o, name, followFlag, since, after, tail] {
    run = [o, name, followFlag, since, after, tail]() -> int {
      if (*tail != "all" && (tail->empty() || tail->size() > 9 || tail->find_first_not_of("0123456789") != std::string::npos))
        return fail(makeError("usage", "--tail wants a number of lines or all, got '" + *tail + "'"));
      auto api = client(*o);
      if (!api) return fail(api.error());
      long long cursor = *after;
      bool first = true;
      // The newest lines first (as docker logs --tail); an explicit cursor or --tail all pages from there.
      const bool tailFirst = *after == 0 && *tail != "all";
      while (true) {
        std::string target = "/api/v1/apps/" + *name + "/logs?limit=1000";
        if (first && tailFirst) target += "&tail=" + *tail;
        else target += "&after=" + std::to_string(cursor);
        if (first && !since->empty()) target += "&since=" + *since;
        auto reply = api->call("GET", target);
        if (!reply) return fail(reply.error());
        const auto& lines = reply->body["lines"];
        for (const auto& l : lines) {
          if (o->json) std::cout << l.dump() << "\n";
          else (l.value("stream", std::string()) == "stderr" ? std::cerr : std::cout) << l.value("text", std::string()) << "\n";
        }
        std::cout << std::flush;
        cursor = reply->body.value("cursor", cursor);
        const bool wasTail = first && tailFirst;
        first = false;
        if (!wasTail && !lines.empty() && lines.size() >= 1000) continue;  // more to page through
        if (!*followFlag) return exit_code::kOk;
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
      }
    };
  });
}

}  // namespace berth::cli
