// COMMAND frames: exactly once across redeliveries and restarts (result cache,
// journal, replayed nonces refused), then run here or on a worker.
#include "agent/agent_impl.hpp"

namespace berth::agent {

void Agent::Impl::onCommand(const Envelope& command) {
  const auto& corr = command.correlation_id;
  switch (results.status(corr)) {
    case ResultCache::Status::Done:
      log::info("command already ran; answering from the stored result", {{"correlation_id", corr}});
      send(resultFrame(state.node_id, corr, *results.result(corr), true, clock()));
      return;
    case ResultCache::Status::Running:
      log::info("command still running; its result will follow", {{"correlation_id", corr}});
      return;
    case ResultCache::Status::New:
      break;
  }
  // Across restarts: a finished command is answered again, a replayed frame refused.
  if (auto stored = journal.result(corr)) {
    log::info("command ran before this agent restarted; answering from the journal", {{"correlation_id", corr}});
    results.markRunning(corr);
    results.finish(corr, *stored);
    send(resultFrame(state.node_id, corr, *stored, true, clock()));
    return;
  }
  if (!journal.admit(command.nonce, command.expires_at, clock())) {
    log::warn("replayed COMMAND refused", {{"correlation_id", corr}, {"nonce", command.nonce}});
    send(protocol::makeErrorFrame(makeError(protocol::codes::kReplay, "COMMAND nonce was already used"),
                                  state.node_id, corr, clock()));
    return;
  }
  if (auto saved = journal.save(); !saved) {  // remembered before it runs, or not run at all
    log::error("command journal not saved; command refused", {{"error", saved.error().message}});
    send(protocol::makeErrorFrame(makeError("journal_unavailable", saved.error().message), state.node_id, corr,
                                  clock()));
    return;
  }
  results.markRunning(corr);
  log::info("executing command", {{"correlation_id", corr}, {"verb", command.verb}});
  Envelope running = frame(FrameType::Event);
  running.correlation_id = corr;
  running.data = {{"kind", "command.running"}};
  send(running);
  if (appVerbs().count(command.verb)) {
    const std::string key = command.args.is_object() ? command.args.value("app", std::string()) : std::string();
    workers->post(key, [this, corr, verb = command.verb, args = command.args] { runAppCommand(corr, verb, args); });
    return;
  }
  auto delay = command.verb == "ping" ? pingDelayMs(command.args) : Result<int>(0);
  const int delayMs = delay ? *delay : 0;
  if (delayMs == 0) {
    complete(corr, verbs.run(command.verb, command.args));
    return;
  }
  auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(delayMs));
  timer->async_wait([this, timer, corr, command](const boost::system::error_code&) {
    complete(corr, verbs.run(command.verb, command.args));
  });
}

void Agent::Impl::complete(const std::string& corr, const VerbOutcome& outcome) {
  results.finish(corr, outcome);
  journal.finish(corr, outcome);
  if (auto saved = journal.save(); !saved)
    log::error("command result not journaled", {{"correlation_id", corr}, {"error", saved.error().message}});
  log::info("command finished", {{"correlation_id", corr}, {"ok", outcome.ok}});
  // Lines the command wrote (a deploy's build output) go before its RESULT, so whoever sees the
  // outcome on the server finds them stored already (berth app deploy prints them, then ends).
  flushLogs();
  send(resultFrame(state.node_id, corr, outcome, false, clock()));  // if no session, the server redelivers
}

}  // namespace berth::agent
