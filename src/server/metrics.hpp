// Server metrics in the Prometheus text exposition format. Used from the
// server's service thread, except the atomics, which the network thread bumps.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace berth::server {

class Histogram {
 public:
  static constexpr std::array<double, 13> kBounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                  0.1,    0.25,  0.5,    1.0,   2.5,  10.0};
  void observe(double seconds);
  void render(std::string& out, const std::string& name, const std::string& help) const;
  std::uint64_t count() const { return count_; }

 private:
  std::array<std::uint64_t, kBounds.size()> buckets_{};
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

struct Metrics {
  std::int64_t sessions_active = 0;
  std::uint64_t sessions_opened_total = 0;
  std::uint64_t heartbeats_missed_total = 0;
  std::int64_t commands_queued = 0;
  std::int64_t commands_in_flight = 0;
  std::uint64_t commands_submitted_total = 0;
  std::map<std::string, std::uint64_t> commands_finished_total;  // by final state
  std::map<std::string, std::uint64_t> frames_rejected_total;    // by error code
  std::uint64_t telemetry_frames_total = 0;
  std::uint64_t telemetry_coalesced_total = 0;  // replaced by a newer sample of the node before the flush
  std::uint64_t http_requests_total = 0;
  std::atomic<std::uint64_t> connections_refused_total{0};  // over max_connections_per_address (network thread)
  std::atomic<std::uint64_t> accept_out_of_files_total{0};  // accept() hit the descriptor limit (network thread)
  std::atomic<std::int64_t> tls_handshakes_in_flight{0};     // accepted, handshake not over (network threads)
  std::uint64_t enrollments_rate_limited_total = 0;
  // REST requests answered 429 by the rate limits, by what was limited ("key", "address").
  std::map<std::string, std::uint64_t> http_rate_limited_total;
  std::uint64_t audit_anonymous_unrecorded_total = 0;  // refusals over audit_anonymous_per_s
  std::atomic<std::uint64_t> agent_frames_rate_limited_total{0};  // sessions cut off over agent_frames_per_s (network thread)
  // Frame bytes read and not yet handled by the service thread: now, and the most since start.
  std::atomic<std::int64_t> service_backlog_bytes{0};
  std::atomic<std::int64_t> service_backlog_peak_bytes{0};
  std::atomic<std::uint64_t> agent_reads_paused_total{0};  // a session's reads paused over service_backlog_kib
  std::map<std::string, std::uint64_t> deployments_finished_total;  // by final state (healthy, failed)
  std::uint64_t app_log_lines_total = 0;
  std::uint64_t app_events_total = 0;
  Histogram dispatch_latency;  // COMMAND sent -> RESULT received
  // Certificates of routed hosts as their nodes last reported them (TELEMETRY "proxy.certificates").
  struct CertificateGauge {
    std::int64_t not_after_ms = 0;
    std::int64_t failures = 0;
  };
  std::map<std::string, std::map<std::string, CertificateGauge>> certificates;  // node -> host -> gauge
  // Takes a node's report; hosts that are not plain domain names are skipped (label values stay safe).
  void recordCertificates(const std::string& node_id, const nlohmann::json& proxy);

  std::string render() const;
};

}  // namespace berth::server
