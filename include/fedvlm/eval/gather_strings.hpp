// Collecting variable-length text on one rank: the corpus-level caption metrics need every
// (candidate, references) pair in one place. The Communicator only moves equal-sized buffers, so
// the ranks first allgather their string counts and byte totals, then their lengths and bytes
// padded to the largest rank's.
#pragma once

#include <string>
#include <vector>

#include "fedvlm/comm/communicator.hpp"

namespace fedvlm::eval {

// Collective: every rank calls it. On `root`, every rank's strings in rank order (rank 0's first,
// each rank's in its own order); on the other ranks, an empty vector.
std::vector<std::string> gather_strings(comm::Communicator& communicator, const std::vector<std::string>& strings,
                                        int root);

}  // namespace fedvlm::eval
