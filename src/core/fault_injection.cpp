#include "fedvlm/core/fault_injection.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "fedvlm/core/error.hpp"

namespace fedvlm {
namespace {

// One armed fault: what happens, where, and at which visit.
struct Fault {
  std::string variable;  // FEDVLM_KILL_AT or FEDVLM_THROW_AT
  std::string point;
  std::int64_t visit = 0;  // 1-based
  std::atomic<std::int64_t> visits{0};
};

int launcher_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID"}) {
    if (const char* value = std::getenv(name)) return std::atoi(value);
  }
  return 0;
}

// `variable` = POINT:N[:RANK]; nullptr when unset or meant for another rank. A malformed value is
// an error, not a silently healthy run.
Fault* parse(const char* variable, Fault& fault) {
  const char* text = std::getenv(variable);
  if (text == nullptr || *text == '\0') return nullptr;
  const std::string value(text);
  const auto first = value.find(':');
  const auto second = first == std::string::npos ? std::string::npos : value.find(':', first + 1);
  const std::string count =
      first == std::string::npos ? "" : value.substr(first + 1, second == std::string::npos ? second : second - first - 1);
  char* end = nullptr;
  const long long visit = std::strtoll(count.c_str(), &end, 10);
  if (first == 0 || count.empty() || visit < 1 || *end != '\0')
    throw InputError(fmt::format("{} = \"{}\": expected POINT:N[:RANK] with N >= 1", variable, value));
  if (second != std::string::npos && std::atoi(value.c_str() + second + 1) != launcher_rank()) return nullptr;
  fault.variable = variable;
  fault.point = value.substr(0, first);
  fault.visit = visit;
  return &fault;
}

// True on the visit `fault` names.
bool due(Fault* fault, std::string_view point) {
  return fault != nullptr && point == fault->point && fault->visits.fetch_add(1) + 1 == fault->visit;
}

}  // namespace

void fault_point(std::string_view point) {
  static Fault kill_storage, throw_storage;
  static Fault* const kill_fault = parse("FEDVLM_KILL_AT", kill_storage);
  static Fault* const throw_fault = parse("FEDVLM_THROW_AT", throw_storage);
  if (due(kill_fault, point)) ::kill(::getpid(), SIGKILL);
  if (due(throw_fault, point))
    throw Error(fmt::format("injected fault: FEDVLM_THROW_AT = {}:{} reached", throw_fault->point, throw_fault->visit));
}

}  // namespace fedvlm
