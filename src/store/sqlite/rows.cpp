#include "store/sqlite/rows.hpp"

namespace berth::store {

AppDomain readAppDomain(const Statement& s) {
  return AppDomain{s.text(0), s.text(1), s.text(2), s.integer(3) != 0, s.integer(4), s.text(5)};
}

App readApp(const Statement& s) {
  App a;
  a.name = s.text(0);
  a.node_id = s.text(1);
  a.selector = s.json(2);
  a.current_deployment = static_cast<int>(s.integer(3));
  a.next_deployment = static_cast<int>(s.integer(4));
  a.desired = parseAppDesired(s.text(5)).value_or(AppDesired::Stopped);
  a.keep = static_cast<int>(s.integer(6));
  a.created_at = s.integer(7);
  a.updated_at = s.integer(8);
  a.org = s.text(9);
  return a;
}

Deployment readDeployment(const Statement& s) {
  Deployment d;
  d.app = s.text(0);
  d.number = static_cast<int>(s.integer(1));
  d.spec = s.json(2);
  d.sealed_secrets = s.text(3);
  d.image = s.text(4);
  d.state = parseDeploymentState(s.text(5)).value_or(DeploymentState::Failed);
  d.reason = s.text(6);
  d.command_id = s.text(7);
  d.source = s.text(8);
  d.created_at = s.integer(9);
  d.updated_at = s.integer(10);
  d.deployment_id = s.text(11);
  d.source_ref = s.text(12);
  d.source_commit = s.text(13);
  d.built_image = s.text(14);
  d.build_plan = s.json(15);
  return d;
}

Command readCommand(const Statement& s) {
  Command c;
  c.id = s.text(0);
  c.node_id = s.text(1);
  c.correlation_id = s.text(2);
  c.verb = s.text(3);
  c.args = s.json(4);
  c.state = parseCommandState(s.text(5)).value_or(CommandState::Failed);
  c.created_at = s.integer(6);
  c.expires_at = s.integer(7);
  c.dispatched_at = s.integer(8);
  c.finished_at = s.integer(9);
  c.attempts = static_cast<int>(s.integer(10));
  c.exit_code = static_cast<int>(s.integer(11));
  c.result = s.json(12);
  c.stdout_text = s.text(13);
  c.stderr_text = s.text(14);
  c.error = s.text(15);
  c.batch_id = s.text(16);
  return c;
}

Node readNode(const Statement& s) {
  Node n;
  n.id = s.text(0);
  n.hostname = s.text(1);
  n.site = s.text(2);
  n.labels = s.json(3);
  n.version = s.text(4);
  n.capabilities = s.json(5);
  n.verbs = s.json(6);
  n.capacity = s.json(7);
  n.status = parseNodeStatus(s.text(8)).value_or(NodeStatus::Unreachable);
  n.cert_serial = s.text(9);
  n.cert_not_after = s.integer(10);
  n.created_at = s.integer(11);
  n.last_seen_at = s.integer(12);
  n.session_id = s.text(13);
  n.clock_skew_ms = s.integer(14);
  n.last_refusal = s.text(15);
  n.last_refusal_at = s.integer(16);
  n.previous_cert_serial = s.text(17);
  n.org = s.text(18);
  return n;
}

ApiKey readApiKey(const Statement& s) {
  ApiKey k;
  k.id = s.text(0);
  k.name = s.text(1);
  k.secret_hash = s.text(2);
  k.role = s.text(3);
  k.created_at = s.integer(4);
  k.prefix = s.text(5);
  k.user_id = s.text(6);
  k.org = s.text(7);
  k.scope = s.text(8);
  k.expires_at = s.integer(9);
  k.revoked_at = s.integer(10);
  return k;
}

}  // namespace berth::store
