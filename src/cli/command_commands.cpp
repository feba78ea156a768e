// `berth cmd send|ls|show|cancel`: commands for one node, and fleet-wide
// commands (`cmd send --label k=v|--all VERB`, `cmd ls --batch ID`) through
// POST/GET /api/v1/commands/batch.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <thread>

#include "cli/cli.hpp"
#include "cli/cli_common.hpp"
#include "common/config.hpp"
#include "common/json.hpp"
#include "common/states.hpp"

namespace berth::cli {
namespace {

using namespace detail;

constexpr auto kPollInterval = std::chrono::milliseconds(200);

struct SendFlags {
  std::vector<std::string> positional;  // NODE VERB, or VERB with --label / --all
  std::vector<std::string> labels;
  bool all = false;
  std::string args = "{}";
  int ttl = 300;
  std::string correlation;
  std::string idempotency_key;
  bool wait = false;
};

// A batch id as the server makes them (batch_ and hex): anything else never reaches the path.
bool plausibleBatchId(const std::string& id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

void printBatch(const nlohmann::json& b) {
  std::cout << fmt::format("{:<24} {:<11} {:<5} {}\n", "NODE", "STATE", "EXIT", "ERROR");
  if (b.contains("entries") && b["entries"].is_array()) {
    for (const auto& e : b["entries"]) {
      std::cout << fmt::format("{:<24} {:<11} {:<5} {}\n", str(e, "node_id"), str(e, "state"), str(e, "exit_code"),
                               e.value("error", std::string()).empty() ? "" : str(e, "error"));
    }
  }
  const auto& t = b.contains("totals") && b["totals"].is_object() ? b["totals"] : nlohmann::json::object();
  std::cout << fmt::format("batch {} ({} {}): {} nodes, {} succeeded, {} failed, {} pending\n", str(b, "id"),
                           str(b, "verb"), str(b, "selector"), str(t, "nodes"), str(t, "succeeded"), str(t, "failed"),
                           str(t, "pending"));
}

int sendBatch(const Options& o, const SendFlags& f) {
  if (f.positional.size() != 1) return fail(makeError("usage", "with --label or --all give only the VERB"));
  if (!f.labels.empty() && f.all) return fail(makeError("usage", "give --label or --all, not both"));
  if (!f.correlation.empty())
    return fail(makeError("usage", "--correlation-id is for one node; a batch derives one per node (use --idempotency-key)"));
  auto parsed = parseJsonOrDiscarded(f.args);
  if (parsed.is_discarded() || !parsed.is_object()) return fail(makeError("usage", "--args must be a JSON object"));
  nlohmann::json body = {{"verb", f.positional[0]}, {"args", parsed}, {"ttl_s", f.ttl}};
  if (f.all) {
    body["all"] = true;
  } else {
    std::string selector;
    for (const auto& l : f.labels) selector += (selector.empty() ? "" : ",") + l;
    body["selector"] = selector;
  }
  std::map<std::string, std::string> headers;
  if (!f.idempotency_key.empty()) headers["Idempotency-Key"] = f.idempotency_key;
  auto settings = resolveClientSettings(o.flags, processEnvironment());
  if (!settings) return fail(settings.error());
  auto client = ApiClient::create(*settings);
  if (!client) return fail(client.error());
  auto reply = client->call("POST", "/api/v1/commands/batch", body, headers);
  if (!reply) return fail(reply.error());
  nlohmann::json batch = reply->body;
  const std::string id = batch.value("id", std::string());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(f.ttl + 5);
  while (f.wait && !batch.value("done", true) && std::chrono::steady_clock::now() < deadline) {
    if (!o.json && batch.contains("totals") && batch["totals"].is_object())
      std::cerr << "\r" << str(batch["totals"], "pending") << " pending..." << std::flush;
    std::this_thread::sleep_for(kPollInterval);
    auto next = client->call("GET", "/api/v1/commands/batch/" + id);
    if (!next) return fail(next.error());
    batch = next->body;
  }
  if (o.json) {
    std::cout << batch.dump(2) << "\n";
  } else if (f.wait) {
    std::cerr << "\r";
    printBatch(batch);
  } else {
    std::cout << printable(id) << "\n";
  }
  if (f.wait) {
    const auto& t = batch.contains("totals") && batch["totals"].is_object() ? batch["totals"] : nlohmann::json::object();
    if (t.value("failed", 0) != 0 || t.value("pending", 0) != 0) return exit_code::kCommandFailed;
  }
  return exit_code::kOk;
}

int sendOne(const Options& o, const SendFlags& f) {
  if (f.positional.size() != 2) return fail(makeError("usage", "give NODE VERB, or --label k=v / --all with VERB"));
  if (!f.idempotency_key.empty())
    return fail(makeError("usage", "--idempotency-key is for --label/--all; one node's command takes --correlation-id"));
  const std::string& nodeId = f.positional[0];
  auto parsed = parseJsonOrDiscarded(f.args);
  if (parsed.is_discarded() || !parsed.is_object()) return fail(makeError("usage", "--args must be a JSON object"));
  nlohmann::json body = {{"verb", f.positional[1]}, {"args", parsed}, {"ttl_s", f.ttl}};
  if (!f.correlation.empty()) body["correlation_id"] = f.correlation;
  auto settings = resolveClientSettings(o.flags, processEnvironment());
  if (!settings) return fail(settings.error());
  auto client = ApiClient::create(*settings);
  if (!client) return fail(client.error());
  auto reply = client->call("POST", "/api/v1/nodes/" + nodeId + "/commands", body);
  if (!reply) return fail(reply.error());
  nlohmann::json command = reply->body;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(f.ttl + 5);
  while (f.wait && std::chrono::steady_clock::now() < deadline) {
    const std::string state = command.value("state", std::string());
    const auto parsedState = parseCommandState(state);
    if (!parsedState || isTerminal(*parsedState)) break;
    if (!o.json) std::cerr << "\r" << state << "..." << std::flush;
    std::this_thread::sleep_for(kPollInterval);
    auto next = client->call("GET", "/api/v1/commands/" + command.value("id", std::string()));
    if (!next) return fail(next.error());
    command = next->body;
  }
  if (o.json) {
    std::cout << command.dump(2) << "\n";
  } else if (f.wait) {
    std::cerr << "\r";
    printCommand(command);
  } else {
    std::cout << str(command, "id") << "\n";
  }
  if (f.wait && parseCommandState(command.value("state", std::string())) != CommandState::Succeeded)
    return exit_code::kCommandFailed;
  return exit_code::kOk;
}

}  // namespace

void addCommandCommands(CLI::App& app, std::function<int()>& run) {
  auto o = std::make_shared<Options>();
  auto common = commonOptions(o);
  auto* cmd = app.add_subcommand("cmd", "Send commands to nodes")->require_subcommand(1);
  auto* send = cmd->add_subcommand(
      "send", "Queue a command for a node (NODE VERB), or for every matching node (--label k=v | --all VERB)");
  auto f = std::make_shared<SendFlags>();
  send->add_option("target", f->positional, "NODE VERB, or VERB with --label/--all (ping | host.info | host.metrics)")
      ->required()
      ->expected(1, 2);
  // One value per --label, so `--label k=v VERB` leaves VERB positional.
  send->add_option("--label", f->labels, "Fleet-wide: nodes carrying these labels, k=v[,k=v] (repeatable)")
      ->allow_extra_args(false);
  send->add_flag("--all", f->all, "Fleet-wide: every node you manage");
  send->add_option("--args", f->args, "Arguments as a JSON object");
  send->add_option("--ttl", f->ttl, "Seconds the command may wait for the node")->capture_default_str();
  send->add_option("--correlation-id", f->correlation, "Idempotency key of a command for one node");
  send->add_option("--idempotency-key", f->idempotency_key,
                   "Idempotency key of a fleet-wide command: a retry with it returns the same batch");
  send->add_flag("--wait", f->wait, "Wait for the result(s) and exit 7 if any failed");
  common(send);
  send->callback([&run, o, f] {
    run = [o, f]() -> int { return f->all || !f->labels.empty() ? sendBatch(*o, *f) : sendOne(*o, *f); };
  });

  auto* cmdLs = cmd->add_subcommand("ls", "List recent commands, or one fleet-wide command's nodes (--batch ID)");
  auto filterNode = std::make_shared<std::string>();
  auto batchId = std::make_shared<std::string>();
  cmdLs->add_option("--node", *filterNode, "Only this node's commands");
  cmdLs->add_option("--batch", *batchId, "One fleet-wide command: each node's state and the totals");
  common(cmdLs);
  cmdLs->callback([&run, o, filterNode, batchId] {
    run = [o, filterNode, batchId]() -> int {
      if (!batchId->empty()) {
        if (!filterNode->empty()) return fail(makeError("usage", "give --node or --batch, not both"));
        if (!plausibleBatchId(*batchId)) return fail(makeError("usage", "--batch must be a batch id (batch_...)"));
        return request(*o, "GET", "/api/v1/commands/batch/" + *batchId, nullptr, printBatch);
      }
      return request(*o, "GET", "/api/v1/commands" + (filterNode->empty() ? "" : "?node=" + *filterNode), nullptr,
                     [](const nlohmann::json& body) {
                       std::cout << fmt::format("{:<22} {:<20} {:<14} {:<11} {}\n", "ID", "NODE", "VERB", "STATE",
                                                "EXIT");
                       for (const auto& c : body["commands"]) {
                         std::cout << fmt::format("{:<22} {:<20} {:<14} {:<11} {}\n", str(c, "id"), str(c, "node_id"),
                                                  str(c, "verb"), str(c, "state"), str(c, "exit_code"));
                       }
                       if (body.value("more", false))
                         std::cerr << "(older commands not shown; the API takes ?limit= up to 1000)\n";
                     });
    };
  });
  auto commandId = std::make_shared<std::string>();
  auto* cmdShow = cmd->add_subcommand("show", "Show one command and its result");
  cmdShow->add_option("id", *commandId, "Command id")->required();
  common(cmdShow);
  cmdShow->callback([&run, o, commandId] {
    run = [o, commandId] { return request(*o, "GET", "/api/v1/commands/" + *commandId, nullptr, printCommand); };
  });
  auto* cmdCancel = cmd->add_subcommand("cancel", "Cancel a command that is still queued");
  cmdCancel->add_option("id", *commandId, "Command id")->required();
  common(cmdCancel);
  cmdCancel->callback([&run, o, commandId] {
    run = [o, commandId] {
      return request(*o, "POST", "/api/v1/commands/" + *commandId + "/cancel", nlohmann::json::object(), printCommand);
    };
  });
}

}  // namespace berth::cli
