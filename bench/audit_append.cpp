// bench/audit_append: what an audit record adds to one mutation (docs/BENCHMARKS.md,
// "Audit append cost"). A mutation is one store transaction upserting an app,
// as an API call's effect; the audited variant appends a chained record
// (server/audit_log: head lookup, SHA-256 of the canonical form, insert) in
// the same transaction. Measured on a fresh SQLite file in a temp directory,
// with one commit per mutation (synchronous FULL and NORMAL) and with many
// mutations per commit (the server's group commit; the CPU cost alone), at an
// empty audit table and at one already holding --preload records.
//
//   build/bench/audit_append [--ops 5000] [--preload 200000]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "server/audit_log.hpp"
#include "store/store.hpp"

using namespace berth;

namespace {

struct Options {
  int ops = 5000;
  int preload = 200000;
};

store::AuditRecord sampleRecord(int i) {
  store::AuditRecord r;
  r.at = 1'700'000'000'000 + i;
  r.actor = "key:k_0123456789abcdef";
  r.org = "acme";
  r.action = "POST /api/v1/apps/web/deployments";
  r.target = "web.acme";
  r.request_id = "req_0123456789abcdef0123";
  r.source = "203.0.113.7";
  r.outcome = "ok";
  r.detail = "202";
  return r;
}

Result<void> mutate(store::Store& s, int i) {
  store::App app;
  app.name = "app" + std::to_string(i % 500);
  app.node_id = "n_1";
  app.updated_at = i;
  return s.upsertApp(app);
}

// Microseconds per mutation over `ops`, `per_commit` mutations in each transaction.
double run(store::Store& s, int ops, int per_commit, bool audited, int& counter) {
  const auto start = std::chrono::steady_clock::now();
  for (int done = 0; done < ops; done += per_commit) {
    auto r = s.transaction([&]() -> Result<void> {
      for (int k = 0; k < per_commit; ++k) {
        const int i = counter++;
        if (auto m = mutate(s, i); !m) return m;
        if (audited) {
          auto a = server::appendAudit(s, sampleRecord(i));
          if (!a) return a.error();
        }
      }
      return Ok{};
    });
    if (!r) {
      std::fprintf(stderr, "error: %s\n", r.error().message.c_str());
      std::exit(1);
    }
  }
  const auto us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  return us / ops;
}

void row(const char* mode, int per_commit, int table, double plain, double audited) {
  std::printf("| %-6s | %10d | %12d | %10.1f | %10.1f | %+9.1f | %+7.0f %% |\n", mode, per_commit, table, plain,
              audited, audited - plain, 100.0 * (audited - plain) / plain);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--ops")
      o.ops = std::atoi(argv[i + 1]);
    else if (flag == "--preload")
      o.preload = std::atoi(argv[i + 1]);
  }
  char pattern[] = "/tmp/berth-audit-bench-XXXXXX";
  const std::string dir = ::mkdtemp(pattern);
  std::printf("| sync   | per commit | audit rows   | plain µs   | audited µs | added µs  | added    |\n");
  std::printf("|--------|------------|--------------|------------|------------|-----------|----------|\n");
  int file = 0;
  for (bool full : {true, false}) {
    for (int preload : {0, o.preload}) {
      for (int perCommit : {1, 100}) {
        // A fresh database per cell, preloaded through the same append path.
        auto s = store::openSqliteStore(dir + "/db" + std::to_string(file++), full);
        if (!s) {
          std::fprintf(stderr, "error: %s\n", s.error().message.c_str());
          return 1;
        }
        int counter = 0;
        if (preload > 0) run(**s, preload, 1000, true, counter);
        const int ops = perCommit == 1 && full ? std::min(o.ops, 2000) : o.ops * (perCommit == 1 ? 1 : 10);
        const double plain = run(**s, ops, perCommit, false, counter);
        const double audited = run(**s, ops, perCommit, true, counter);
        row(full ? "FULL" : "NORMAL", perCommit, preload, plain, audited);
      }
    }
  }
  std::filesystem::remove_all(dir);
  return 0;
}
