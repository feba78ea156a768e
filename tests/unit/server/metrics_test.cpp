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

TEST(Metrics, TwoNodesReportingOneHostAreTwoSeriesNamingTheirNode) {
  Metrics m;
  m.recordCertificates("node-a", {{"certificates", {{"shop.example.com", {{"not_after", 2'000'000}}}}}});
  m.recordCertificates("node-b", {{"certificates", {{"shop.example.com", {{"not_after", 9'000'000}, {"failures", 2}}}}}});
  const auto text = m.render();
  EXPECT_NE(text.find("berth_certificate_expiry_timestamp_seconds{host=\"shop.example.com\",node=\"node-a\"} 2000\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("berth_certificate_expiry_timestamp_seconds{host=\"shop.example.com\",node=\"node-b\"} 9000\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("berth_certificate_failures{host=\"shop.example.com\",node=\"node-b\"} 2\n"), std::string::npos);
}

TEST(Metrics, AHostileNodesCertificatesCannotInjectLinesOrCrashTheServer) {
  Metrics m;
  nlohmann::json certificates = {
      {"evil.example.com\"} 1\nberth_fake 1\n#", {{"not_after", 1}}},  // label injection: dropped
      {"UPPER.example.com", {{"not_after", 1}}},                      // not a stored spelling: dropped
      {"typed.example.com", {{"not_after", "soon"}, {"failures", {1, 2}}}},  // wrong types: zeros
      {"array.example.com", nlohmann::json::array()},                          // not an object: dropped
  };
  for (int i = 0; i < 1500; ++i) certificates["x" + std::to_string(i) + ".example.com"] = nlohmann::json::object();
  m.recordCertificates("n\"1\n", {{"certificates", certificates}});
  m.recordCertificates("n2", {{"certificates", "not an object"}});
  m.recordCertificates("n3", nlohmann::json::array());
  const auto text = m.render();
  EXPECT_EQ(text.find("berth_fake"), std::string::npos);
  EXPECT_EQ(text.find("UPPER"), std::string::npos);
  EXPECT_EQ(text.find("array.example.com"), std::string::npos);
  EXPECT_NE(text.find("berth_certificate_failures{host=\"typed.example.com\",node=\"n\\\"1\\n\"} 0\n"),
            std::string::npos) << text;
  EXPECT_EQ(m.certificates["n\"1\n"].size(), 1000u);  // bounded per node
  EXPECT_EQ(m.certificates.count("n2"), 0u);
  EXPECT_EQ(m.certificates.count("n3"), 0u);
}

}  // namespace
}  // namespace berth::server
