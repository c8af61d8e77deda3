// RoundClock: where a run's time goes (data, local training, communication, server, evaluation)
// and the ETA printed with every round.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace fedvlm::sim {

class RoundClock {
 public:
  using Clock = std::chrono::steady_clock;

  RoundClock() : start_(Clock::now()) {}

  // Adds the time since `since` to `part`; returns now.
  Clock::time_point charge(const std::string& part, Clock::time_point since) {
    const auto now = Clock::now();
    parts_[part] += std::chrono::duration<double>(now - since).count();
    return now;
  }
  void add(const std::string& part, double seconds) { parts_[part] += seconds; }

  double elapsed() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }
  const std::map<std::string, double>& parts() const { return parts_; }

  // Seconds left if the remaining rounds take as long as the mean of the ones done this session.
  static double eta(double seconds_this_session, std::int64_t rounds_this_session, std::int64_t rounds_left) {
    if (rounds_this_session <= 0) return 0.0;
    return seconds_this_session / static_cast<double>(rounds_this_session) * static_cast<double>(rounds_left);
  }

 private:
  Clock::time_point start_;
  std::map<std::string, double> parts_;
};

std::string format_duration(double seconds);  // "42.0 s", "3 min 12 s", "2 h 05 min"

}  // namespace fedvlm::sim
