// libFuzzer harness: the input is one HDF5 file, which the harness places in a dataset directory
// both as meta.h5 and as shard-00000.h5. The seeds (make_corpus.sh) are datasets of one shard
// folded into one file: meta.h5's attributes, /tokenizer, /clients, /public and /test beside the
// shard's /train, every client in shard 0. The harness then reads what a run reads (the dataset
// description, both splits whole, every client's training samples) and what `fedvlm-prep inspect`
// reads (the validator, the statistics). Only fedvlm::Error may come out.
#include <hdf5.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "fedvlm/data/dataset.hpp"
#include "fedvlm/data/inspect.hpp"
#include "fuzz_support.hpp"

namespace {

// Clients read per input: enough to cross client boundaries, few enough to keep inputs fast.
constexpr std::int64_t kMaxClientsRead = 16;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // HDF5 prints its error stack for every failed call; fedvlm's messages are what counts here,
  // and thousands of stacks a second would bury libFuzzer's own output.
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fedvlm::fuzz::ScratchDir scratch("fedvlm-fuzz-dataset");
  const auto& dir = scratch.path();
  fedvlm::fuzz::write_file(dir / "meta.h5", data, size);
  fedvlm::fuzz::write_file(dir / "shard-00000.h5", data, size);

  fedvlm::fuzz::expect_only_fedvlm_errors("DatasetReader", [&] {
    fedvlm::data::DatasetReader reader(dir);
    (void)reader.read_split("public");
    (void)reader.read_split("test");
    const std::int64_t clients = std::min(reader.info().num_clients, kMaxClientsRead);
    for (std::int64_t client = 0; client < clients; ++client) {
      (void)reader.client_samples(client);
      (void)reader.read_client(client);
    }
  });
  fedvlm::fuzz::expect_only_fedvlm_errors("validate_dataset", [&] { (void)fedvlm::data::validate_dataset(dir); });
  fedvlm::fuzz::expect_only_fedvlm_errors("dataset_statistics", [&] {
    fedvlm::data::DatasetReader reader(dir);
    const auto statistics = fedvlm::data::dataset_statistics(reader);
    (void)fedvlm::data::format_statistics(reader.info(), statistics);
  });
  return 0;
}
