#include "cli/cli.hpp"
#include "common/json.hpp"

#include <fmt/format.h>

#include <chrono>
#include <iostream>
#include <thread>

#include "cli/api_client.hpp"
#include "cli/cli_common.hpp"
#include "common/config.hpp"
#include "common/states.hpp"

namespace berth::cli {
namespace detail {

int exitCodeFor(const Error& error) {
  const auto& c = error.code;
  if (c == "usage" || c == "bad_url" || c == "invalid_argument") return exit_code::kUsage;
  if (c == "not_found") return exit_code::kNotFound;
  if (c == "unauthorized" || c == "forbidden" || c == "revoked") return exit_code::kUnauthorized;
  if (c == "conflict" || c == "domain_in_use" || c == "queue_full" || c == "over_capacity" || c == "no_node")
    return exit_code::kConflict;
  if (c == "connect_failed" || c == "tls_failed" || c == "http_failed" || c == "server_name_mismatch")
    return exit_code::kUnreachable;
  return exit_code::kServerError;
}

int fail(const Error& error) {
  std::cerr << "error: " << error.message << " (" << error.code << ")\n";
  return exitCodeFor(error);
}

// Runs one API call and hands the body to `show` (or prints JSON with --json).
int request(const Options& o, const std::string& method, const std::string& target, const nlohmann::json& body,
            const std::function<void(const nlohmann::json&)>& show) {
  auto settings = resolveClientSettings(o.flags, processEnvironment());
  if (!settings) return fail(settings.error());
  auto client = ApiClient::create(*settings);
  if (!client) return fail(client.error());
  auto reply = client->call(method, target, body);
  if (!reply) return fail(reply.error());
  if (o.json) {
    std::cout << reply->body.dump(2) << "\n";
  } else {
    show(reply->body);
  }
  return exit_code::kOk;
}

std::string str(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return "-";
  return printable(j[key].is_string() ? j[key].get<std::string>() : dumpJson(j[key]));
}

std::string printable(std::string text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto& c = reinterpret_cast<unsigned char&>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      c = '?';
    } else if (c == 0xc2 && i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) & 0xe0) == 0x80) {
      text.replace(i, 2, "?");  // a C1 control (U+0080..U+009F) in UTF-8
    }
  }
  return text;
}

std::string ago(std::int64_t at_ms) {
  if (at_ms == 0) return "never";
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return fmt::format("{}s ago", (now - at_ms) / 1000);
}

void printCommand(const nlohmann::json& c) {
  std::cout << fmt::format(
      "id:             {}\nnode:           {}\nverb:           {}\nstate:          {}\n"
      "correlation id: {}\nattempts:       {}\nexit code:      {}\n",
      str(c, "id"), str(c, "node_id"), str(c, "verb"), str(c, "state"), str(c, "correlation_id"), str(c, "attempts"),
      str(c, "exit_code"));
  if (!c.value("error", std::string()).empty()) std::cout << "error:          " << str(c, "error") << "\n";
  if (c.contains("result") && !c["result"].empty()) std::cout << "result:\n" << c["result"].dump(2) << "\n";
}

}  // namespace detail
using namespace detail;

std::function<void(CLI::App*)> detail::commonOptions(std::shared_ptr<Options> o) {
  return [o](CLI::App* cmd) {
    cmd->add_option("--server", o->flags.server, "Server URL (https://host:port); env BERTH_SERVER");
    cmd->add_option("--api-key", o->flags.api_key, "API key; env BERTH_API_KEY");
    cmd->add_option("--org", o->flags.org, "Organisation a session acts in; env BERTH_ORG");
    cmd->add_option("--ca-file", o->flags.ca_file, "Server CA certificate (PEM); env BERTH_CA_FILE");
    cmd->add_option("--context", o->flags.context,
                    "Context file to read (e.g. <data_dir>/cli.json); env BERTH_CLI_CONFIG; default "
                    "~/.config/berth/cli.json");
    cmd->add_flag("--json", o->json, "Print the API's JSON");
  };
}

void addClientCommands(CLI::App& app, std::function<int()>& run) {
  auto o = std::make_shared<Options>();
  auto common = commonOptions(o);
  addAppCommands(app, run);
  addAccessCommands(app, run);
  addLimitCommands(app, run);
  addAuditCommands(app, run);

  auto* status = app.add_subcommand("status", "Show the control plane's state");
  common(status);
  status->callback([&run, o] {
    run = [o] {
      return request(*o, "GET", "/api/v1/status", nullptr, [](const nlohmann::json& s) {
        std::cout << fmt::format(
            "version:   {}\nuptime:    {}s\nnodes:     {} ({} online, {} unreachable, {} revoked)\n"
            "sessions:  {}\ncommands:  {} queued, {} in flight\nCA pin:    {}\n",
            str(s, "version"), str(s, "uptime_s"), str(s["nodes"], "total"), str(s["nodes"], "online"),
            str(s["nodes"], "unreachable"), str(s["nodes"], "revoked"), str(s, "sessions"), str(s, "commands_queued"),
            str(s, "commands_in_flight"), str(s, "ca_pin"));
      });
    };
  });

  auto* node = app.add_subcommand("node", "Manage nodes")->require_subcommand(1);
  auto* nodeLs = node->add_subcommand("ls", "List nodes");
  common(nodeLs);
  nodeLs->callback([&run, o] {
    run = [o] {
      return request(*o, "GET", "/api/v1/nodes", nullptr, [](const nlohmann::json& body) {
        std::cout << fmt::format("{:<20} {:<20} {:<12} {:<10} {}\n", "ID", "HOSTNAME", "STATUS", "SITE", "LAST SEEN");
        for (const auto& n : body["nodes"]) {
          std::cout << fmt::format("{:<20} {:<20} {:<12} {:<10} {}\n", str(n, "id"), str(n, "hostname"),
                                   str(n, "status"), n.value("site", std::string()).empty() ? "-" : str(n, "site"),
                                   ago(n.value("last_seen_at", std::int64_t{0})));
        }
      });
    };
  });
  auto nodeId = std::make_shared<std::string>();
  auto* nodeShow = node->add_subcommand("show", "Show one node");
  nodeShow->add_option("id", *nodeId, "Node id")->required();
  common(nodeShow);
  nodeShow->callback([&run, o, nodeId] {
    run = [o, nodeId] {
      return request(*o, "GET", "/api/v1/nodes/" + *nodeId, nullptr,
                     [](const nlohmann::json& n) { std::cout << n.dump(2) << "\n"; });
    };
  });
  auto* nodeRevoke = node->add_subcommand("revoke", "Revoke a node: close its session and refuse its certificate");
  nodeRevoke->add_option("id", *nodeId, "Node id")->required();
  common(nodeRevoke);
  nodeRevoke->callback([&run, o, nodeId] {
    run = [o, nodeId] {
      return request(*o, "POST", "/api/v1/nodes/" + *nodeId + "/revoke", nlohmann::json::object(),
                     [](const nlohmann::json& n) { std::cout << "revoked " << str(n, "id") << "\n"; });
    };
  });

  auto* token = app.add_subcommand("token", "Manage join tokens")->require_subcommand(1);
  auto* tokenCreate = token->add_subcommand("create", "Create a one-time join token");
  auto ttl = std::make_shared<int>(3600);
  auto description = std::make_shared<std::string>();
  auto boundNode = std::make_shared<std::string>();
  tokenCreate->add_option("--ttl", *ttl, "Seconds until the token expires")->capture_default_str();
  tokenCreate->add_option("--description", *description, "A note for the audit trail");
  tokenCreate->add_option("--node", *boundNode,
                          "Rejoin token for this existing node (e.g. its certificate expired): it keeps its id");
  common(tokenCreate);
  tokenCreate->callback([&run, o, ttl, description, boundNode] {
    run = [o, ttl, description, boundNode] {
      nlohmann::json body = {{"ttl_s", *ttl}, {"description", *description}};
      if (!boundNode->empty()) body["node_id"] = *boundNode;
      return request(*o, "POST", "/api/v1/tokens", body, [o, boundNode](const nlohmann::json& t) {
        // The server's advertised URL (advertise_url), the one its certificate
        // names; this CLI's own URL only from an older server.
        std::string server =
            t.contains("server_url") && t["server_url"].is_string() ? t["server_url"].get<std::string>() : "";
        if (server.empty()) {
          auto settings = resolveClientSettings(o->flags, processEnvironment());
          server = settings ? settings->server : "https://SERVER:7443";
        }
        std::cout << str(t, "token") << "\n\n"
                  << (boundNode->empty() ? "Join a node with:" : "Rejoin node " + *boundNode + " (on that machine):")
                  << "\n  berth agent --server " << server << " --join " << str(t, "token") << " --ca-pin "
                  << str(t, "ca_pin") << "\n";
      });
    };
  });

  addCommandCommands(app, run);
}

}  // namespace berth::cli
