#include "pretrain_progress.hpp"

#include <nlohmann/json.hpp>

#include "fedvlm/core/log.hpp"

namespace fedvlm::model {

PretrainProgress::PretrainProgress(double log_every_seconds)
    : log_every_seconds_(log_every_seconds), run_start_(Clock::now()), last_log_(Clock::now()) {}

void PretrainProgress::start_phase(const std::string& phase, std::int64_t steps) {
  phase_ = phase;
  steps_ = steps;
  samples_ = 0;
  phase_start_ = Clock::now();
  last_log_ = phase_start_;
}

void PretrainProgress::step_done(std::int64_t step, double loss, std::int64_t samples) {
  samples_ += samples;
  const auto now = Clock::now();
  const bool last = step + 1 == steps_;
  const double seconds = std::chrono::duration<double>(now - run_start_).count();
  if ((step + 1) % 10 == 0 || last) {
    jsonl_ += nlohmann::json{{"phase", phase_}, {"step", step + 1}, {"loss", loss}, {"seconds", seconds}}.dump() + "\n";
  }
  if (std::chrono::duration<double>(now - last_log_).count() >= log_every_seconds_ || last) {
    const double phase_seconds = std::chrono::duration<double>(now - phase_start_).count();
    const double rate = phase_seconds > 0 ? samples_ / phase_seconds : 0.0;
    const double eta = phase_seconds / (step + 1) * (steps_ - step - 1);
    log::info("pretrain {} step {}/{} loss {:.4f} {:.0f} samples/s ETA {:.0f}s", phase_, step + 1, steps_, loss, rate,
              eta);
    last_log_ = now;
  }
}

}  // namespace fedvlm::model
