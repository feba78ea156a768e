// The server's configuration as a plain struct, built from a JSON file,
// BERTH_* environment variables and flags (in that order; later wins).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::server {

struct ServerConfig {
  // Fixed for the life of the process.
  std::string data_dir = "./berth-data";
  std::string listen = "127.0.0.1:7443";
  // "full": a 202 is on disk even across an OS crash. "normal" survives a killed
  // process only; kept for measuring what FULL costs (docs/BENCHMARKS.md).
  std::string sqlite_synchronous = "full";
  std::vector<std::string> server_names = {"localhost", "127.0.0.1"};
  // "https://HOST[:PORT]" agents and the CLI use to reach this server: in the
  // printed join line, the CLI context and the certificate. Empty: chosen from
  // `listen` and the host (server/advertise.hpp).
  std::string advertise_url;

  // Reloadable on SIGHUP without dropping sessions.
  std::string log_level = "info";
  int heartbeat_interval_s = 20;
  int heartbeat_misses = 3;
  int telemetry_interval_s = 30;
  int telemetry_history = 120;
  int command_timeout_s = 300;
  int max_in_flight = 4;
  int max_queue = 1000;
  int command_batch_max = 10000;  // nodes one fleet-wide command (POST /commands/batch) may reach
  int clock_skew_s = 60;
  int max_envelope_lifetime_s = 600;  // expires_at - issued_at of any frame, both ways
  int max_frame_bytes = 1 << 20;      // restart-only (restartOnlyKeys())
  int max_output_bytes = 64 * 1024;
  int client_cert_days = 30;
  int log_retention_hours = 168;   // app log lines older than this go
  int command_retention_days = 30;  // finished commands (and emptied batches) older than this go; 0 keeps them
  int log_max_mib_per_app = 64;    // and the oldest beyond this much text per app
  int deployments_kept = 3;        // older deployments kept for rollback (per app default)
  // The four below are restart-only (restartOnlyKeys()).
  // Open connections one client address may hold; more are closed at once.
  int max_connections_per_address = 256;
  // TLS handshakes under way at once; further connections wait in the kernel's
  // backlog (no descriptor, no CPU) until one finishes, so a reconnect storm
  // queues instead of thousands of handshakes timing out together.
  int max_handshakes_in_flight = 256;
  // Threads running sockets, TLS, HTTP parsing and frame validation; each
  // connection stays on one. 0: one per core less one (the service thread's), between 1 and 8 (restart-only).
  int io_threads = 0;
  bool limit_loopback_connections = false;  // loopback is exempt unless true (local benchmarks)
  // Token buckets (server/rate_limiter.hpp): REST requests per API key or
  // session, per source address, and frames per agent session; requests/s and
  // burst. Over them: 429 with Retry-After (frames: the session is closed).
  int rate_limit_key_per_s = 50;
  int rate_limit_key_burst = 100;
  int rate_limit_address_per_s = 200;
  int rate_limit_address_burst = 400;
  // Audit records of refused requests that carried no valid credential
  // (anonymous): a flood of bad keys from many addresses must not fill the
  // disk. Over the bucket they are counted, and one record says how many
  // were left out when the bucket allows again.
  int audit_anonymous_per_s = 5;
  int audit_anonymous_burst = 200;
  int agent_frames_per_s = 1000;
  int agent_frames_burst = 4000;
  // Frames read from agents and not yet handled by the service thread, in KiB of frame text,
  // all sessions together. Over it the network threads stop reading agent frames until half of
  // it is handled (TCP then holds the agents back): many agents, each within its own
  // agent_frames_per_s, cannot grow the server's memory without bound.
  int service_backlog_kib = 256 * 1024;
  // A plain-HTTP listener that answers only GET /metrics without a key, for a
  // local scraper. Loopback by default; "" turns it off (then /metrics on the
  // main listener answers a platform key with the read scope). Restart-only.
  std::string metrics_listen = "127.0.0.1:9464";
  // Capabilities beyond Docker's default set that apps may keep (empty: none).
  std::vector<std::string> allowed_capabilities;
  // Every app with a port also answers at <app>.<base_domain> (wildcard DNS
  // points there). Lower-cased; empty: no generated domains.
  std::string base_domain;
  // Custom domains may be "*.example.com" (whole leftmost label only).
  bool allow_wildcard_domains = false;
};

// The keys accepted in files, as BERTH_<KEY> variables and as --<key> flags.
const std::vector<std::string>& serverConfigKeys();

// Fails naming the field and the rule for an unknown key or a bad value.
Result<ServerConfig> serverConfigFromJson(const nlohmann::json& merged);

nlohmann::json toJson(const ServerConfig& config);

// The settings a SIGHUP cannot change (the listener, the store and the frame
// limit read them once at start), by their configuration keys.
const std::vector<std::string>& restartOnlyKeys();

struct Reload {
  ServerConfig config;               // what runs from now on
  std::vector<std::string> ignored;  // restart-only keys whose new value waits for a restart
};

// `fresh` with every restart-only setting kept at `running`'s value.
Reload applyReload(const ServerConfig& running, const ServerConfig& fresh);

}  // namespace berth::server
