// run_in_process: the test harness for distributed code. Runs `body` on `world_size` threads,
// each with an InProcessCommunicator of its own rank, and returns when all have finished.
//
// - If any rank throws, the world is poisoned (ranks waiting in collectives wake up and throw)
//   and the first real failure is rethrown here, in preference to the wake-ups it caused.
// - If the ranks have not all finished within `timeout` (a deadlock: mismatched collectives, a
//   rank that skipped one), the world is poisoned and a fedvlm::Error naming what each rank was
//   waiting in is thrown: a deadlocked test fails instead of hanging. A rank stuck outside any
//   collective cannot be woken; after a grace period its thread is detached (its state is kept
//   alive by shared ownership) and the error is thrown all the same.
#pragma once

#include <chrono>
#include <functional>

#include "fedvlm/comm/communicator.hpp"

namespace fedvlm::comm {

void run_in_process(int world_size, std::function<void(Communicator&)> body,
                    std::chrono::seconds timeout = std::chrono::seconds(60));

}  // namespace fedvlm::comm
