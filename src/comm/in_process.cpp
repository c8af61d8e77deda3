#include "fedvlm/comm/in_process.hpp"

#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "fedvlm/comm/in_process_communicator.hpp"
#include "fedvlm/core/error.hpp"

namespace fedvlm::comm {
namespace {

// Everything the rank threads touch, shared with them so that a detached thread never refers to
// the caller's stack frame.
struct RunState {
  explicit RunState(int size, std::function<void(Communicator&)> run_body)
      : world(std::make_shared<InProcessWorld>(size)), body(std::move(run_body)), finished(size, false) {}

  std::shared_ptr<InProcessWorld> world;
  std::function<void(Communicator&)> body;
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<bool> finished;
  int finished_count = 0;
  std::exception_ptr first_failure;  // first exception that was not a poisoned wake-up
  std::exception_ptr first_wakeup;   // first WorldPoisoned, reported only if nothing else failed
};

void run_rank(const std::shared_ptr<RunState>& state, int rank) {
  set_thread_rank(rank);
  try {
    InProcessCommunicator communicator(state->world, rank);
    state->body(communicator);
  } catch (const WorldPoisoned&) {
    std::lock_guard lock(state->mutex);
    if (!state->first_wakeup) state->first_wakeup = std::current_exception();
  } catch (...) {
    std::string reason = "an exception that is not std::exception";
    try {
      throw;
    } catch (const std::exception& error) {
      reason = error.what();
    } catch (...) {
    }
    {
      std::lock_guard lock(state->mutex);
      if (!state->first_failure) state->first_failure = std::current_exception();
    }
    state->world->poison(fmt::format("rank {} failed: {}", rank, reason));
  }
  std::lock_guard lock(state->mutex);
  state->finished[static_cast<std::size_t>(rank)] = true;
  ++state->finished_count;
  state->changed.notify_all();
}

std::string finished_ranks(const RunState& state) {
  std::string text;
  for (std::size_t rank = 0; rank < state.finished.size(); ++rank) {
    if (state.finished[rank]) text += fmt::format("{}{}", text.empty() ? "" : ", ", rank);
  }
  return text.empty() ? "none" : text;
}

}  // namespace

void run_in_process(int world_size, std::function<void(Communicator&)> body, std::chrono::seconds timeout) {
  FEDVLM_CHECK(world_size >= 1, "run_in_process needs at least one rank, got {}", world_size);
  FEDVLM_CHECK(body != nullptr, "run_in_process needs a body to run");
  auto state = std::make_shared<RunState>(world_size, std::move(body));

  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(world_size));
  for (int rank = 0; rank < world_size; ++rank) threads.emplace_back([state, rank] { run_rank(state, rank); });

  std::string deadlock;
  {
    std::unique_lock lock(state->mutex);
    const auto all_finished = [&] { return state->finished_count == world_size; };
    if (!state->changed.wait_for(lock, timeout, all_finished)) {
      // Describe the ranks before poisoning wakes them up.
      const std::string finished = finished_ranks(*state);
      lock.unlock();
      deadlock = fmt::format("in-process world of {} ranks did not finish within {} s (deadlock?): {}; finished: {}",
                             world_size, timeout.count(), state->world->describe_ranks(), finished);
      state->world->poison(deadlock);
      lock.lock();
      // Ranks waiting in collectives now throw and finish quickly; a rank stuck elsewhere does not.
      state->changed.wait_for(lock, std::chrono::seconds(5), all_finished);
    }
  }

  for (int rank = 0; rank < world_size; ++rank) {
    bool finished = false;
    {
      std::lock_guard lock(state->mutex);
      finished = state->finished[static_cast<std::size_t>(rank)];
    }
    auto& thread = threads[static_cast<std::size_t>(rank)];
    if (finished) {
      thread.join();
    } else {
      thread.detach();  // stuck outside any collective: it keeps `state` alive by itself
    }
  }

  if (!deadlock.empty()) throw Error(deadlock);
  std::lock_guard lock(state->mutex);
  if (state->first_failure) std::rethrow_exception(state->first_failure);
  if (state->first_wakeup) std::rethrow_exception(state->first_wakeup);
}

}  // namespace fedvlm::comm
