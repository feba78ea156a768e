// Fleet benchmark: the same workload against a real `berth server` and against
// the Node `ws` reference hub (bench/reference-hub), in one run, with ratios.
//   sessions held and server memory per session (N sessions)
//   TELEMETRY frames ingested per second
//   command round trips per second and p50/p99 latency at --rt-agents agents
//   idle agent resident memory (`berth agent` vs a Node ws agent)
//   --storm: the reconnect storm instead (server killed and restarted under N sessions)
//   --batch: a fleet-wide command instead (POST /commands/batch to all N nodes, time until every RESULT is stored)
// Usage: fleet_sim [--sessions 10000] [--rt-agents 1000] [--seconds 10] [--skip-hub] [--storm]
//        [--source-addresses N] (default: one 127.0.0.x per 20,000 sessions)
//        fleet_sim --batch [--sessions 1000] [--runs 5]
// FLEET_BERTH_BINARY=path runs another berth build (e.g. before a change) under the same load.
// FLEET_KEEP=1 keeps the work directory (~76 MB at 10,000 sessions: certificates, the database, logs).
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <atomic>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "common/clock.hpp"
#include "common/encoding.hpp"
#include "fleet_client.hpp"
#include "proc_stats.hpp"
#include "net/http_client.hpp"
#include "net/tls.hpp"
#include "pki/authority.hpp"
#include "pki/keys.hpp"
#include "pki/sealed_file.hpp"
#include "protocol/signing.hpp"
#include "proxy/nat/upstream_nat.hpp"
#include "store/store.hpp"

extern char** environ;

namespace {
using namespace berth;
using Steady = std::chrono::steady_clock;
using bench::cpuByThread, bench::cpuByThreadDelta, bench::cpuSeconds, bench::rssMiB;
constexpr std::int64_t kDayMs = 86'400'000;

struct Options {
  std::size_t sessions = 10000;
  std::size_t rt_agents = 1000;
  int seconds = 10;
  std::size_t connections = 32;
  bool skip_hub = false;
  bool storm = false;
  bool batch = false;
  bool sessions_given = false;
  int runs = 5;
  std::size_t source_addresses = 0;  // 0: one 127.0.0.x address per 20,000 sessions
};

std::size_t sourceAddresses(const Options& o) {
  return o.source_addresses > 0 ? o.source_addresses : std::max<std::size_t>(1, (o.sessions + 19'999) / 20'000);
}

struct Child {
  pid_t pid = -1;
  Child() = default;
  Child(Child&& other) noexcept : pid(std::exchange(other.pid, -1)) {}
  Child& operator=(Child&& other) noexcept {
    if (this != &other) {
      stop();
      pid = std::exchange(other.pid, -1);
    }
    return *this;
  }
  ~Child() { stop(); }
  void stop() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      int status = 0;
      for (int i = 0; i < 100 && ::waitpid(pid, &status, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      pid = -1;
    }
  }
};

Child spawn(const std::vector<std::string>& argv, const std::string& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  // The simulator holds thousands of sockets without CLOEXEC; a restarted server
  // must not start with them (they once filled half its descriptor limit).
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  Child c;
  if (posix_spawnp(&c.pid, argv[0].c_str(), &actions, nullptr, args.data(), environ) != 0) {
    throw std::runtime_error("cannot start " + argv[0]);
  }
  posix_spawn_file_actions_destroy(&actions);
  return c;
}

std::string freePort() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return std::to_string(a.local_endpoint().port());
}

bool waitFor(const std::function<bool()>& f, std::chrono::seconds timeout) {
  const auto deadline = Steady::now() + timeout;
  while (Steady::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return f();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

struct Figures {
  std::size_t sessions = 0;
  double connect_s = 0;
  double server_mib_idle = 0;
  double server_mib_sessions = 0;
  double telemetry_per_s = 0;
  double round_trips_per_s = 0;
  double p50_ms = 0, p99_ms = 0;
  // Server CPU (user + system, all threads) per 1,000 frames / round trips.
  double cpu_ms_per_1000_telemetry = 0;
  double cpu_ms_per_1000_round_trips = 0;
  std::uint64_t post_errors = 0;
  double idle_agent_mib = 0;
};

// Certificates for `n` simulated agents, all sharing one key.
std::vector<std::pair<std::string, std::string>> identities(const pki::CertificateAuthority& ca, const std::string& key,
                                                            std::size_t n) {
  auto csr = *pki::makeCsr(key, "sim");
  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string id = fmt::format("n_sim{:06}", i);
    out.emplace_back(id, ca.signAgentCsr(csr, id, systemNowMs(), kDayMs)->cert_pem);
  }
  return out;
}

// The shared workload; `child` is the hub process whose memory is measured.
Figures runWorkload(const Options& o, bench::FleetTarget target, const std::string& ca_pem,
                    const pki::CertificateAuthority& ca, pid_t hub_pid) {
  Figures f;
  const std::string key = pki::generatePrivateKeyPem();
  auto ids = identities(ca, key, o.sessions);
  f.server_mib_idle = rssMiB(hub_pid);
  target.source_addresses = sourceAddresses(o);
  bench::Fleet fleet(target, ca_pem, key, ids);
  const auto start = Steady::now();
  f.sessions = fleet.connectAll(256, std::chrono::seconds(300));
  f.connect_s = std::chrono::duration<double>(Steady::now() - start).count();
  fleet.heartbeatAll();
  std::this_thread::sleep_for(std::chrono::seconds(12));  // settled: past berth's 10 s trim tick
  f.server_mib_sessions = rssMiB(hub_pid);
  std::cerr << fmt::format("  {} sessions in {:.1f} s, hub RSS {:.0f} MiB\n", f.sessions, f.connect_s,
                           f.server_mib_sessions);

  const double t0 = bench::scrapeMetric(target, ca_pem, "berth_telemetry_frames_total");
  const double telemetryCpu0 = cpuSeconds(hub_pid);
  auto threads0 = cpuByThread(hub_pid);
  const auto tStart = Steady::now();
  fleet.blastTelemetry(o.rt_agents, std::chrono::seconds(o.seconds / 2 + 1));
  // Frames still in socket buffers count once the hub has read them: wait until it has.
  double t1 = bench::scrapeMetric(target, ca_pem, "berth_telemetry_frames_total");
  auto drained = Steady::now();
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const double now = bench::scrapeMetric(target, ca_pem, "berth_telemetry_frames_total");
    if (now == t1) break;
    t1 = now;
    drained = Steady::now();
  }
  f.telemetry_per_s = (t1 - t0) / std::chrono::duration<double>(drained - tStart).count();
  if (t1 > t0) f.cpu_ms_per_1000_telemetry = (cpuSeconds(hub_pid) - telemetryCpu0) * 1e6 / (t1 - t0);
  auto threads1 = cpuByThread(hub_pid);
  std::cerr << fmt::format("  telemetry {:.0f}/s, {:.1f} ms CPU per 1,000 ({})\n", f.telemetry_per_s,
                           f.cpu_ms_per_1000_telemetry, cpuByThreadDelta(threads0, threads1));
  fleet.heartbeatAll();
  std::this_thread::sleep_for(std::chrono::seconds(1));

  const std::string finished = "berth_commands_finished_total{state=\"succeeded\"}";
  const double c0 = bench::scrapeMetric(target, ca_pem, finished);
  const double commandCpu0 = cpuSeconds(hub_pid);
  threads0 = cpuByThread(hub_pid);
  const auto cStart = Steady::now();
  fleet.commandLoad(o.rt_agents, o.connections, std::chrono::seconds(o.seconds));
  const double c1 = bench::scrapeMetric(target, ca_pem, finished);
  if (c1 > c0) f.cpu_ms_per_1000_round_trips = (cpuSeconds(hub_pid) - commandCpu0) * 1e6 / (c1 - c0);
  threads1 = cpuByThread(hub_pid);
  f.round_trips_per_s = (c1 - c0) / std::chrono::duration<double>(Steady::now() - cStart).count();
  f.p50_ms = percentile(fleet.latencies_ms, 0.50);
  f.p99_ms = percentile(fleet.latencies_ms, 0.99);
  f.post_errors = fleet.post_errors;
  std::cerr << fmt::format("  {:.0f} round trips/s, p50 {:.2f} ms, p99 {:.2f} ms, {} POST errors, "
                           "{:.1f} ms CPU per 1,000 ({})\n",
                           f.round_trips_per_s, f.p50_ms, f.p99_ms, f.post_errors, f.cpu_ms_per_1000_round_trips,
                           cpuByThreadDelta(threads0, threads1));
  fleet.closeAll();
  return f;
}

// The berth binary under test: the one built with this benchmark, or
// FLEET_BERTH_BINARY (to compare an older build in the same run).
std::string berthBinary() {
  const char* other = std::getenv("FLEET_BERTH_BINARY");
  return other && *other ? other : BERTH_BINARY;
}

struct BerthServer {
  std::vector<std::string> argv;
  Child process;
  std::string port, data, ca_pem;
  std::optional<pki::CertificateAuthority> ca;
  bench::FleetTarget target;
};

// Starts `berth server` on loopback and registers `sessions` simulated nodes as if they had enrolled.
BerthServer startBerth(std::size_t sessions, const std::string& dir) {
  BerthServer b;
  b.port = freePort();
  b.data = dir + "/berth";
  b.argv = {berthBinary(),       "server",      "--data-dir", b.data,        "--listen",
            "127.0.0.1:" + b.port, "--log-level", "warn",       "--max-queue", "100000",
            "--telemetry-history", "10",
            // The load generators share one key and one address, and a simulated agent may
            // burst: the benchmark raises the rate limits (settings) out of its way.
            "--rate-limit-key-per-s", "1000000", "--rate-limit-key-burst", "1000000",
            "--rate-limit-address-per-s", "1000000", "--rate-limit-address-burst", "1000000",
            "--agent-frames-per-s", "1000000", "--agent-frames-burst", "1000000",
            "--metrics-listen", "127.0.0.1:0"};
  if (const char* wrapper = std::getenv("FLEET_SERVER_WRAPPER")) b.argv.insert(b.argv.begin(), wrapper);  // e.g. heaptrack
  ::setenv("XDG_CONFIG_HOME", dir.c_str(), 1);  // the server's CLI context goes here, not into the user's
  b.process = spawn(b.argv, dir + "/berth-server.log");
  if (!waitFor([&] { return pki::fileExists(b.data + "/cli.json"); }, std::chrono::seconds(30))) {
    throw std::runtime_error("berth server did not start; see " + dir + "/berth-server.log");
  }
  auto cli = nlohmann::json::parse(*pki::readFile(b.data + "/cli.json"));
  b.ca_pem = *pki::readFile(b.data + "/pki/ca.crt");
  b.ca = *pki::CertificateAuthority::fromPem(b.ca_pem, *pki::readFile(b.data + "/pki/ca.key"));
  {
    auto store = store::openSqliteStore(b.data + "/berth.db").value();
    (void)store->transaction([&]() -> Result<void> {
      for (std::size_t i = 0; i < sessions; ++i) {
        store::Node n;
        n.id = fmt::format("n_sim{:06}", i);
        n.created_at = systemNowMs();
        (void)store->upsertNode(n);
      }
      return Ok{};
    });
  }
  b.target = bench::FleetTarget{"127.0.0.1", b.port, cli["api_key"]};
  return b;
}

// Reconnect storm: N sessions up, the server killed (SIGKILL) and started
// again on the same data and port, agents redialing on berth agent's
// schedule; time until all N are back, and the server's peak RSS and CPU.
int benchStorm(const Options& o, const std::string& dir) {
  std::cerr << "reconnect storm, berth server (" << berthBinary() << "):\n";
  BerthServer server = startBerth(o.sessions, dir);
  const std::string key = pki::generatePrivateKeyPem();
  server.target.source_addresses = sourceAddresses(o);
  bench::Fleet fleet(server.target, server.ca_pem, key, identities(*server.ca, key, o.sessions));
  const std::size_t up = fleet.connectAll(256, std::chrono::seconds(300));
  std::cerr << fmt::format("  {} sessions up; killing the server\n", up);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  ::kill(server.process.pid, SIGKILL);
  int status = 0;
  ::waitpid(server.process.pid, &status, 0);
  server.process.pid = -1;
  const auto killed = Steady::now();
  Child again = spawn(server.argv, dir + "/berth-server.log");

  std::atomic<bool> sampling{true};
  double peakRss = 0, peakCpuPercent = 0;
  std::size_t peakFds = 0;
  const double cpuAtStart = cpuSeconds(again.pid);
  std::thread sampler([&] {
    double lastCpu = cpuAtStart;
    auto lastAt = Steady::now();
    while (sampling) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      peakRss = std::max(peakRss, rssMiB(again.pid));
      std::error_code ec;
      std::size_t fds = 0;
      for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(again.pid) + "/fd", ec);
           !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
        ++fds;
      peakFds = std::max(peakFds, fds);
      if (Steady::now() - lastAt >= std::chrono::seconds(1)) {
        const double cpu = cpuSeconds(again.pid);
        const double wall = std::chrono::duration<double>(Steady::now() - lastAt).count();
        peakCpuPercent = std::max(peakCpuPercent, 100.0 * (cpu - lastCpu) / wall);
        // One timeline line a second: where the storm spends its time.
        std::cerr << fmt::format("  t={:5.1f}s back={:6} failed dials={:6} server fds={:6} cpu={:3.0f}%\n",
                                 std::chrono::duration<double>(Steady::now() - killed).count(),
                                 fleet.storm_back.load(), fleet.storm_failures.load(), fds,
                                 100.0 * (cpu - lastCpu) / wall);
        lastCpu = cpu;
        lastAt = Steady::now();
      }
    }
  });
  auto storm = fleet.reconnectStorm(std::chrono::seconds(120));
  const double cpuUsed = cpuSeconds(again.pid) - cpuAtStart;
  sampling = false;
  sampler.join();
  const double rssAfter = rssMiB(again.pid);
  auto since = [&](Steady::time_point t) {
    return t == Steady::time_point{} ? -1.0 : std::chrono::duration<double>(t - killed).count();
  };
  const double allBack = since(storm.all_back_at);
  std::cout << fmt::format("\nfleet_sim --storm: {} sessions, server killed with SIGKILL and restarted at once\n",
                           o.sessions);
  std::cout << "peer: the issue's target (all back within 30 s, nobody left refused); the Node hub keeps no state\n"
               "to restart from, so it is not a column here\n\n";
  std::cout << fmt::format("| {:<44} | {:>12} | {:<16} |\n", "figure", "berth", "target");
  std::cout << "|" << std::string(46, '-') << "|" << std::string(14, '-') << "|" << std::string(18, '-') << "|\n";
  auto row = [](const std::string& name, const std::string& value, const std::string& target) {
    std::cout << fmt::format("| {:<44} | {:>12} | {:<16} |\n", name, value, target);
  };
  row("sessions before the kill", std::to_string(up), "");
  row("sessions back", std::to_string(storm.welcomed), std::to_string(o.sessions));
  row("all back after the kill (s)", allBack < 0 ? "not all" : fmt::format("{:.1f}", allBack), "<= 30");
  row("dials refused or failed", std::to_string(storm.failed_attempts), "");
  row("last refused dial after the kill (s)", fmt::format("{:.1f}", since(storm.last_failure_at)), "a few s");
  row("server peak RSS during the storm (MiB)", fmt::format("{:.0f}", peakRss), "");
  row("server peak open descriptors", std::to_string(peakFds), "");
  rlimit files{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  row("open-files limit (hard) on this machine", std::to_string(files.rlim_max), "");
  row("server RSS once all are back (MiB)", fmt::format("{:.0f}", rssAfter), "");
  row("server CPU during the storm (s)", fmt::format("{:.1f}", cpuUsed), "");
  row("server peak CPU (% of one core, 1 s)", fmt::format("{:.0f}", peakCpuPercent), "");
  fleet.closeAll();
  return storm.welcomed == o.sessions ? 0 : 1;
}

// Fleet-wide command: N simulated agents online, one POST /commands/batch
// {"all": true, "verb": "ping"} per run, then the succeeded counter every 5 ms
// until it has grown by N, then GET /commands/batch/{id} until it says done
// (every entry's RESULT stored). Per run: the POST's answer time, the time
// until done, and the server's CPU time over the run.
int benchBatch(const Options& o, const std::string& dir) {
  std::cerr << "fleet-wide command, berth server (" << berthBinary() << "):\n";
  BerthServer server = startBerth(o.sessions, dir);
  const std::string key = pki::generatePrivateKeyPem();
  server.target.source_addresses = sourceAddresses(o);
  bench::Fleet fleet(server.target, server.ca_pem, key, identities(*server.ca, key, o.sessions));
  const std::size_t up = fleet.connectAll(256, std::chrono::seconds(300));
  std::cerr << fmt::format("  {} sessions up\n", up);
  fleet.heartbeatAll();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  auto tls = net::makeClientContext({server.ca_pem, "", ""});
  const net::Url url{"127.0.0.1", server.port, "/"};
  const std::map<std::string, std::string> auth = {{"Authorization", "Bearer " + server.target.api_key}};
  struct Run {
    double post_ms = 0, done_ms = 0, cpu_ms = 0;
    std::int64_t succeeded = 0, nodes = 0;
  };
  std::vector<Run> runs;
  for (int r = 0; r < o.runs; ++r) {
    Run run;
    const std::string succeeded = "berth_commands_finished_total{state=\"succeeded\"}";
    const double before = bench::scrapeMetric(server.target, server.ca_pem, succeeded);
    const double cpu0 = cpuSeconds(server.process.pid);
    const auto start = Steady::now();
    auto posted = net::httpsRequest(url, **tls,
                                    {"POST", "/api/v1/commands/batch",
                                     nlohmann::json{{"all", true}, {"verb", "ping"}}.dump(), auth},
                                    std::chrono::seconds(30), false);
    run.post_ms = std::chrono::duration<double, std::milli>(Steady::now() - start).count();
    if (!posted || posted->status != 202) {
      std::cerr << "  POST failed: " << (posted ? posted->body : posted.error().message) << "\n";
      return 1;
    }
    const std::string id = nlohmann::json::parse(posted->body)["id"];
    // The cheap signal first (the succeeded counter, one line of /metrics), then the
    // batch itself as the store holds it: polling a 1,000-entry answer every few ms
    // would spend the server's CPU on the measurement.
    while (Steady::now() - start < std::chrono::seconds(60) &&
           bench::scrapeMetric(server.target, server.ca_pem, succeeded) - before < static_cast<double>(o.sessions))
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    nlohmann::json batch;
    while (Steady::now() - start < std::chrono::seconds(60)) {
      auto got = net::httpsRequest(url, **tls, {"GET", "/api/v1/commands/batch/" + id, "", auth},
                                   std::chrono::seconds(30), false);
      if (got && got->status == 200) {
        batch = nlohmann::json::parse(got->body);
        if (batch.value("done", false)) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    run.done_ms = std::chrono::duration<double, std::milli>(Steady::now() - start).count();
    run.cpu_ms = (cpuSeconds(server.process.pid) - cpu0) * 1000;
    run.nodes = batch["totals"].value("nodes", 0);
    run.succeeded = batch["totals"].value("succeeded", 0);
    std::cerr << fmt::format("  run {}: POST answered in {:.0f} ms, {} of {} succeeded after {:.0f} ms, server CPU {:.0f} ms\n",
                             r + 1, run.post_ms, run.succeeded, run.nodes, run.done_ms, run.cpu_ms);
    runs.push_back(run);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  fleet.closeAll();
  auto median = [&](double Run::*field) {
    std::vector<double> v;
    for (const auto& run : runs) v.push_back(run.*field);
    return percentile(v, 0.5);
  };
  auto worst = [&](double Run::*field) {
    double m = 0;
    for (const auto& run : runs) m = std::max(m, run.*field);
    return m;
  };
  bool allSucceeded = true;
  for (const auto& run : runs) allSucceeded = allSucceeded && run.succeeded == static_cast<std::int64_t>(o.sessions);
  std::cout << fmt::format("\nfleet_sim --batch: {} simulated agents online, {} runs of one fleet-wide ping to all\n",
                           up, runs.size());
  std::cout << "target: all RESULTs stored in under 1 s at 1,000 nodes (issue 12)\n\n";
  std::cout << fmt::format("| {:<46} | {:>10} | {:>10} |\n", "figure", "median", "worst");
  std::cout << "|" << std::string(48, '-') << "|" << std::string(12, '-') << "|" << std::string(12, '-') << "|\n";
  auto row = [&](const std::string& name, double Run::*field) {
    std::cout << fmt::format("| {:<46} | {:>10.0f} | {:>10.0f} |\n", name, median(field), worst(field));
  };
  row("POST /commands/batch answered (ms)", &Run::post_ms);
  row("every RESULT stored, from the POST (ms)", &Run::done_ms);
  row("server CPU over the run (ms)", &Run::cpu_ms);
  std::cout << fmt::format("\nevery entry succeeded in every run: {}\n", allSucceeded ? "yes" : "NO");
  return allSucceeded ? 0 : 1;
}

// An idle agent's resident memory once it has settled: the highest reading, every
// 250 ms, from 5 s to 35 s after it started: a heartbeat (every 20 s) and the
// second telemetry sample (every 30 s) run in that window, after the start-up.
double idleAgentPeakMiB(pid_t pid) {
  std::this_thread::sleep_for(std::chrono::seconds(5));
  double peak = 0;
  for (const auto until = Steady::now() + std::chrono::seconds(30); Steady::now() < until;) {
    const double now = rssMiB(pid);
    // A dead agent (or a zombie) has no VmRSS: a figure from it would be the peak of its life, not of an idle agent's.
    if (now == 0) throw std::runtime_error("the idle agent (pid " + std::to_string(pid) + ") exited during its window");
    peak = std::max(peak, now);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return peak;
}

// An agent leaves its nginx and its kernel rules behind when it stops, on purpose (apps keep
// serving while it restarts); a benchmark must not (with dockerd on the machine the idle agent
// starts both).
void removeAgentLeftovers(const std::string& agent_dir) {
  const std::string nginx = std::filesystem::absolute(agent_dir + "/proxy/nginx").lexically_normal().string();
  if (auto pid = pki::readFile(nginx + "/run/nginx.pid")) {
    if (const int master = std::atoi(pid->c_str()); master > 0) ::kill(master, SIGQUIT);
  }
  if (::geteuid() == 0 && (std::filesystem::exists(nginx + "/nat_ports") || std::filesystem::exists(nginx + "/nat.rules")))
    (void)proxy::nat::IptablesNat(nginx, nginx).removeRules();
}

Figures benchBerth(const Options& o, const std::string& dir) {
  std::cerr << "berth server (" << berthBinary() << "):\n";
  BerthServer server = startBerth(o.sessions, dir);
  const std::string port = server.port;
  const std::string caPem = server.ca_pem;
  bench::FleetTarget target = server.target;
  Figures f = runWorkload(o, target, caPem, *server.ca, server.process.pid);

  // A real agent, enrolled and idle.
  auto tls = net::makeClientContext({caPem, "", ""});
  auto token = net::httpsRequest({"127.0.0.1", port, "/"}, **tls,
                                 {"POST", "/api/v1/tokens", "{}", {{"Authorization", "Bearer " + target.api_key}}},
                                 std::chrono::seconds(30), false);
  const std::string joinToken = nlohmann::json::parse(token->body)["token"];
  const std::string pin = *pki::publicKeyPin(caPem);
  Child agent = spawn({berthBinary(), "agent", "--state-dir", dir + "/agent", "--server", "https://127.0.0.1:" + port,
                       "--join", joinToken, "--ca-pin", pin},
                      dir + "/berth-agent.log");
  std::exception_ptr failed;
  try {
    f.idle_agent_mib = idleAgentPeakMiB(agent.pid);
  } catch (...) {
    failed = std::current_exception();
  }
  agent.stop();
  removeAgentLeftovers(dir + "/agent");
  if (failed) std::rethrow_exception(failed);
  std::cerr << fmt::format("  idle berth agent RSS {:.1f} MiB (peak, 5-35 s after start)\n", f.idle_agent_mib);
  return f;
}

Figures benchHub(const Options& o, const std::string& dir) {
  std::cerr << "reference hub (Node ws):\n";
  const std::string port = freePort(), hubDir = dir + "/hub";
  std::filesystem::create_directories(hubDir);
  auto ca = pki::CertificateAuthority::createNew("reference hub CA", systemNowMs(), kDayMs);
  const std::string serverKey = pki::generatePrivateKeyPem();
  auto serverCert = ca.issueServerCertificate(serverKey, {"localhost", "127.0.0.1"}, systemNowMs(), kDayMs);
  auto signing = protocol::generateSigningKey();
  (void)pki::writePrivateFile(hubDir + "/server.crt", serverCert->cert_pem);
  (void)pki::writePrivateFile(hubDir + "/server.key", serverKey);
  (void)pki::writePrivateFile(hubDir + "/ca.crt", ca.certPem());
  (void)pki::writePrivateFile(hubDir + "/signing.key", base64Encode(signing.secret_key));
  const std::string apiKey = "hub-key";
  Child hub = spawn({"node", std::string(HUB_DIR) + "/hub.js", port, hubDir, apiKey}, dir + "/hub.log");
  bench::FleetTarget target{"127.0.0.1", port, apiKey};
  if (!waitFor([&] { return bench::scrapeMetric(target, ca.certPem(), "berth_agent_sessions_active") >= 0; },
               std::chrono::seconds(30))) {
    throw std::runtime_error("reference hub did not start; see " + dir +
                             "/hub.log (run npm ci in bench/reference-hub)");
  }
  Figures f = runWorkload(o, target, ca.certPem(), ca, hub.pid);

  const std::string clientKey = pki::generatePrivateKeyPem();
  (void)pki::writePrivateFile(hubDir + "/client.key", clientKey);
  (void)pki::writePrivateFile(
      hubDir + "/client.crt",
      ca.signAgentCsr(*pki::makeCsr(clientKey, "x"), "n_refagent", systemNowMs(), kDayMs)->cert_pem);
  Child agent = spawn({"node", std::string(HUB_DIR) + "/agent.js", "https://127.0.0.1:" + port, hubDir, "n_refagent"},
                      dir + "/hub-agent.log");
  f.idle_agent_mib = idleAgentPeakMiB(agent.pid);
  std::cerr << fmt::format("  idle Node ws agent RSS {:.1f} MiB (peak, 5-35 s after start)\n", f.idle_agent_mib);
  return f;
}

void report(const Options& o, const Figures& b, const Figures* h) {
  auto ratio = [&](double ours, double theirs) { return theirs > 0 ? fmt::format("{:.2f}x", ours / theirs) : "-"; };
  auto row = [&](const std::string& name, double ours, double theirs, const char* fmtSpec, const std::string& target) {
    std::cout << fmt::format(
        "| {:<40} | {:>12} | {:>12} | {:>7} | {:<22} |\n", name, fmt::format(fmt::runtime(fmtSpec), ours),
        h ? fmt::format(fmt::runtime(fmtSpec), theirs) : "-", h ? ratio(ours, theirs) : "-", target);
  };
  const double perSessionB = b.sessions ? (b.server_mib_sessions - b.server_mib_idle) * 1024 / b.sessions : 0;
  const double perSessionH = h && h->sessions ? (h->server_mib_sessions - h->server_mib_idle) * 1024 / h->sessions : 0;
  std::cout << fmt::format(
      "\nfleet_sim: {} sessions, round trips at {} agents over {} HTTPS connections, {} s phases\n", o.sessions,
      o.rt_agents, o.connections, o.seconds);
  std::cout << "peer: reference hub on Node "
            << "ws (bench/reference-hub), same frames, same routing, no persistence\n\n";
  std::cout << fmt::format("| {:<40} | {:>12} | {:>12} | {:>7} | {:<22} |\n", "figure", "berth", "node ws", "ratio",
                           "target");
  std::cout << "|" << std::string(42, '-') << "|" << std::string(14, '-') << "|" << std::string(14, '-') << "|"
            << std::string(9, '-') << "|" << std::string(24, '-') << "|\n";
  row("sessions held", static_cast<double>(b.sessions), h ? static_cast<double>(h->sessions) : 0, "{:.0f}", ">= 10000");
  row("time to open all sessions (s)", b.connect_s, h ? h->connect_s : 0, "{:.1f}", "");
  row("server RSS with all sessions (MiB)", b.server_mib_sessions, h ? h->server_mib_sessions : 0, "{:.0f}",
      "< 1024 at 10000");
  row("server memory per session (KiB)", perSessionB, perSessionH, "{:.1f}", "");
  row("telemetry frames ingested/s", b.telemetry_per_s, h ? h->telemetry_per_s : 0, "{:.0f}", "");
  row("server CPU per 1,000 telemetry (ms)", b.cpu_ms_per_1000_telemetry, h ? h->cpu_ms_per_1000_telemetry : 0,
      "{:.1f}", "");
  row("command round trips/s", b.round_trips_per_s, h ? h->round_trips_per_s : 0, "{:.0f}", ">= 10000");
  row("server CPU per 1,000 round trips (ms)", b.cpu_ms_per_1000_round_trips,
      h ? h->cpu_ms_per_1000_round_trips : 0, "{:.1f}", "< hub");
  row("round trip p50 (ms)", b.p50_ms, h ? h->p50_ms : 0, "{:.2f}", "");
  row("round trip p99 (ms)", b.p99_ms, h ? h->p99_ms : 0, "{:.2f}", "< 50");
  row("idle agent RSS, peak 5-35 s (MiB)", b.idle_agent_mib, h ? h->idle_agent_mib : 0, "{:.1f}", "< 10");
  std::cout << fmt::format("\nPOST errors: berth {}, hub {}\n", b.post_errors, h ? h->post_errors : 0);
}

}  // namespace

int main(int argc, char** argv) {
  if (sodium_init() < 0) return 1;
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string("0"); };
    if (a == "--source-addresses") {
      o.source_addresses = std::stoul(next());
      if (o.source_addresses == 0 || o.source_addresses > 254) {
        std::cerr << "fleet_sim: --source-addresses takes 1 to 254 (127.0.0.1 .. 127.0.0.N)\n";
        return 2;
      }
    } else if (a == "--sessions") {
      o.sessions = std::stoul(next());
      o.sessions_given = true;
    } else if (a == "--batch")
      o.batch = true;
    else if (a == "--runs")
      o.runs = std::max(1, std::stoi(next()));
    else if (a == "--rt-agents")
      o.rt_agents = std::stoul(next());
    else if (a == "--seconds")
      o.seconds = std::stoi(next());
    else if (a == "--connections")
      o.connections = std::stoul(next());
    else if (a == "--skip-hub")
      o.skip_hub = true;
    else if (a == "--storm")
      o.storm = true;
    else {
      std::cerr << "usage: fleet_sim [--sessions N] [--rt-agents N] [--seconds S] [--connections N] [--skip-hub]\n"
                   "                 [--source-addresses N]\n"
                   "       fleet_sim --storm [--sessions N]\n"
                   "       fleet_sim --batch [--sessions 1000] [--runs 5]\n";
      return 2;
    }
  }
  if (o.batch && !o.sessions_given) o.sessions = 1000;
  o.rt_agents = std::min(o.rt_agents, o.sessions);
  // As many descriptors as allowed: a million where the process may raise its hard limit, else the hard limit.
  rlimit limit{1 << 20, 1 << 20};
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0 && ::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  ::signal(SIGPIPE, SIG_IGN);
  std::string pattern = "/tmp/berth-fleet-XXXXXX";
  const std::string dir = ::mkdtemp(pattern.data());
  std::cerr << "work files in " << dir << "\n";
  int status = 0;
  try {
    if (o.storm) status = benchStorm(o, dir);
    else if (o.batch) status = benchBatch(o, dir);
    else {
      Figures b = benchBerth(o, dir);
      std::optional<Figures> h;
      if (!o.skip_hub) h = benchHub(o, dir);
      report(o, b, h ? &*h : nullptr);
    }
  } catch (const std::exception& e) {
    std::cerr << "fleet_sim failed: " << e.what() << "\n";
    status = 1;
  }
  // Kept after a failure (its logs say why) or when asked.
  std::error_code ignored;
  if (status == 0 && !std::getenv("FLEET_KEEP")) std::filesystem::remove_all(dir, ignored);
  else std::cerr << "work files kept in " << dir << "\n";
  return status;
}
