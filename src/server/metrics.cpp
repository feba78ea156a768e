#include "server/metrics.hpp"

#include <fmt/format.h>

namespace berth::server {
namespace {

void header(std::string& out, const std::string& name, const char* type, const std::string& help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

template <typename T>
void single(std::string& out, const std::string& name, const char* type, const std::string& help, T value) {
  header(out, name, type, help);
  out += fmt::format("{} {}\n", name, value);
}

void labelled(std::string& out, const std::string& name, const std::string& help, const std::string& label,
              const std::map<std::string, std::uint64_t>& values) {
  header(out, name, "counter", help);
  for (const auto& [key, value] : values) out += fmt::format("{}{{{}=\"{}\"}} {}\n", name, label, key, value);
}

// A label value in the text format: backslash, double quote and newline escaped.
std::string labelValue(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

void Metrics::recordCertificates(const std::string& node_id, const nlohmann::json& proxy) {
  if (!proxy.is_object() || !proxy.contains("certificates") || !proxy["certificates"].is_object()) {
    certificates.erase(node_id);
    return;
  }
  auto& hosts = certificates[node_id];
  hosts.clear();
  for (const auto& [host, status] : proxy["certificates"].items()) {
    if (hosts.size() >= 1000) break;  // a node cannot grow the page without bound
    if (host.empty() || host.size() > 253 || host.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-*") != std::string::npos)
      continue;
    if (!status.is_object()) continue;
    CertificateGauge g;
    if (auto v = status.find("not_after"); v != status.end() && v->is_number_integer()) g.not_after_ms = v->get<std::int64_t>();
    if (auto v = status.find("failures"); v != status.end() && v->is_number_integer()) g.failures = v->get<std::int64_t>();
    hosts[host] = g;
  }
}

void Histogram::observe(double seconds) {
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) ++buckets_[i];
  }
  ++count_;
  sum_ += seconds;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& help) const {
  header(out, name, "histogram", help);
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, kBounds[i], buckets_[i]);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, count_, name, sum_, name, count_);
}

std::string Metrics::render() const {
  std::string out;
  single(out, "berth_agent_sessions_active", "gauge", "Agent sessions currently open.", sessions_active);
  single(out, "berth_agent_sessions_opened_total", "counter", "Agent sessions accepted.", sessions_opened_total);
  single(out, "berth_heartbeats_missed_total", "counter", "Sessions closed for missing heartbeats.",
         heartbeats_missed_total);
  single(out, "berth_commands_queued", "gauge", "Commands waiting for dispatch.", commands_queued);
  single(out, "berth_commands_in_flight", "gauge", "Commands dispatched and not yet answered.", commands_in_flight);
  single(out, "berth_commands_submitted_total", "counter", "Commands accepted by the API.", commands_submitted_total);
  labelled(out, "berth_commands_finished_total", "Commands that reached a final state.", "state",
           commands_finished_total);
  labelled(out, "berth_frames_rejected_total", "Inbound agent frames rejected.", "code", frames_rejected_total);
  single(out, "berth_telemetry_frames_total", "counter", "TELEMETRY frames ingested.", telemetry_frames_total);
  single(out, "berth_telemetry_coalesced_total", "counter",
         "TELEMETRY samples replaced by a newer one of the same node before they were stored.",
         telemetry_coalesced_total);
  single(out, "berth_http_requests_total", "counter", "REST requests served.", http_requests_total);
  single(out, "berth_connections_refused_total", "counter",
         "Connections closed at once: the client address was at max_connections_per_address.",
         connections_refused_total.load());
  single(out, "berth_tls_handshakes_in_flight", "gauge",
         "Connections accepted whose TLS handshake is not over (capped by max_handshakes_in_flight).",
         tls_handshakes_in_flight.load());
  single(out, "berth_accept_out_of_files_total", "counter",
         "Times accept() found the process out of file descriptors (the listener pauses 50 ms each time).",
         accept_out_of_files_total.load());
  single(out, "berth_enrollments_rate_limited_total", "counter",
         "Enrolments answered 429 after too many wrong join tokens from one address.",
         enrollments_rate_limited_total);
  labelled(out, "berth_http_rate_limited_total",
           "REST requests answered 429 by the rate limit per API key or session (key) or per source address.", "by",
           http_rate_limited_total);
  single(out, "berth_audit_anonymous_unrecorded_total", "counter",
         "Refused requests without a valid credential not audited one by one (over audit_anonymous_per_s).",
         audit_anonymous_unrecorded_total);
  single(out, "berth_agent_frames_rate_limited_total", "counter",
         "Agent frames over agent_frames_per_s in one session (the session is closed).",
         agent_frames_rate_limited_total.load());
  single(out, "berth_service_backlog_bytes", "gauge",
         "Agent frame bytes read and not yet handled by the service thread.", service_backlog_bytes.load());
  single(out, "berth_service_backlog_peak_bytes", "gauge",
         "The most agent frame bytes waiting for the service thread since start.", service_backlog_peak_bytes.load());
  single(out, "berth_agent_reads_paused_total", "counter",
         "Times a session stopped reading agent frames because the service thread was behind (service_backlog_kib).",
         agent_reads_paused_total.load());
  labelled(out, "berth_deployments_finished_total", "App deployments that ended healthy or failed.", "state",
           deployments_finished_total);
  single(out, "berth_app_log_lines_total", "counter", "App log lines stored.", app_log_lines_total);
  single(out, "berth_app_events_total", "counter", "App events recorded.", app_events_total);
  dispatch_latency.render(out, "berth_command_dispatch_latency_seconds",
                          "Time from sending a COMMAND to receiving its RESULT.");
  // Per node too: two nodes reporting one host are two series (a duplicate would be dropped
  // by the scraper), and one node cannot speak for a host another node serves.
  header(out, "berth_certificate_expiry_timestamp_seconds", "gauge",
         "When each routed host's certificate expires (0: none yet), as its node last reported.");
  for (const auto& [node, hosts] : certificates)
    for (const auto& [host, g] : hosts)
      out += fmt::format("berth_certificate_expiry_timestamp_seconds{{host=\"{}\",node=\"{}\"}} {}\n", host,
                         labelValue(node), g.not_after_ms / 1000);
  header(out, "berth_certificate_failures", "gauge", "Failed issue or renewal attempts in a row per routed host.");
  for (const auto& [node, hosts] : certificates)
    for (const auto& [host, g] : hosts)
      out += fmt::format("berth_certificate_failures{{host=\"{}\",node=\"{}\"}} {}\n", host, labelValue(node),
                         g.failures);
  return out;
}

}  // namespace berth::server
