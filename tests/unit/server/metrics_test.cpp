#include "server/metrics.hpp"

#include <gtest/gtest.h>

namespace berth::server {
namespace {

TEST(Metrics, RendersPrometheusTextWithTheHistogram) {
  Metrics m;
  m.sessions_active = 3;
  m.dispatch_latency.observe(0.002);
  m.dispatch_latency.observe(0.2);
  m.frames_rejected_total["bad_signature"] = 1;
  auto text = m.render();
  EXPECT_NE(text.find("berth_agent_sessions_active 3\n"), std::string::npos);
  EXPECT_NE(text.find("berth_command_dispatch_latency_seconds_bucket{le=\"0.0025\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("berth_command_dispatch_latency_seconds_bucket{le=\"+Inf\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("berth_command_dispatch_latency_seconds_count 2\n"), std::string::npos);
  EXPECT_NE(text.find("berth_frames_rejected_total{code=\"bad_signature\"} 1\n"), std::string::npos);
}

}  // namespace
}  // namespace berth::server
