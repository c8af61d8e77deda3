// Constructors of the partition methods (one .cpp each), used by the factory in partitioner.cpp.
#pragma once

#include <memory>

#include "partition/partitioner.hpp"

namespace fedvlm::prep {

std::unique_ptr<Partitioner> make_iid_partitioner();
std::unique_ptr<Partitioner> make_dirichlet_partitioner();
std::unique_ptr<Partitioner> make_dirichlet_mix_partitioner();
std::unique_ptr<Partitioner> make_quantity_partitioner();
std::unique_ptr<Partitioner> make_task_partitioner();
std::unique_ptr<Partitioner> make_natural_partitioner();

}  // namespace fedvlm::prep
