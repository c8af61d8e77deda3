// libFuzzer harness: a valid dataset (written once by DatasetWriter: 5 clients, one without
// samples, two shards) whose values the input edits through the HDF5 API before the dataset is
// read as in fuzz_dataset.cpp. The files stay well-formed HDF5, so the fuzzer exercises
// fedvlm's own checks (pointers, shapes, counts, ids, attributes) instead of HDF5's parser,
// which fuzz_dataset.cpp's byte mutations mostly reach. Only fedvlm::Error may come out.
//
// The input is a list of edits, each: a target (a dataset or root attribute of meta.h5 or a
// shard), an operation (write one element, resize the first dimension, rewrite an attribute
// as integers, delete) and its numbers.
#include <hdf5.h>

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "fedvlm/data/dataset.hpp"
#include "fedvlm/data/inspect.hpp"
#include "fedvlm/data/tokenizer.hpp"
#include "fuzz_support.hpp"

namespace {
namespace fs = std::filesystem;
using fedvlm::data::Samples;

constexpr int kClients = 5;
constexpr std::int64_t kMaxClientsRead = 8;
const std::array<const char*, 3> kFiles = {"meta.h5", "shard-00000.h5", "shard-00001.h5"};
const std::array<const char*, 10> kSplitArrays = {"images", "task",  "prompt", "prompt_ptr", "answer",
                                                  "answer_ptr", "label", "box", "client_ptr", "client_id"};
const std::array<const char*, 7> kRootAttributes = {"format", "version", "name", "tasks", "class_names", "num_clients",
                                                    "image_shape"};

Samples make_samples(int count, int tag) {
  Samples samples;
  samples.image_shape = {1, 4, 3};
  for (int i = 0; i < count; ++i) {
    std::vector<std::uint8_t> image(12, static_cast<std::uint8_t>(tag * 16 + i));
    std::vector<std::int32_t> prompt(static_cast<std::size_t>((i + tag) % 3), 4 + (tag + i) % 20);
    std::vector<std::int32_t> answer(static_cast<std::size_t>(1 + i % 2), 5 + (tag * 3 + i) % 20);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const std::array<float, 4> box = i % 2 ? std::array<float, 4>{0.1f, 0.2f, 0.5f, 0.9f} : std::array<float, 4>{nan, nan, nan, nan};
    samples.add(image, static_cast<std::uint8_t>((tag + i) % 2), prompt, answer, (tag + i) % 4 - 1, box);
  }
  return samples;
}

// The pristine dataset, written once per process.
fs::path pristine_dataset(const fs::path& root) {
  std::vector<std::string> texts;
  const char* words[] = {"what", "is", "the", "class", "of", "this", "image", "a", "shirt", "shoe", "bag", "dress"};
  for (int i = 0; i < 200; ++i) texts.push_back(std::string(words[i % 12]) + " " + words[(i * 7) % 12] + " " + std::to_string(i % 10));
  fedvlm::data::DatasetInfo info;
  info.name = "fuzz";
  info.tasks = {"cls", "vqa"};
  info.class_names = {"zero", "one", "two"};
  info.num_clients = kClients;
  info.image_shape = {1, 4, 3};
  info.partition = {{"partition", "dirichlet"}, {"alpha", "0.5"}};
  info.tokenizer_model = fedvlm::data::Tokenizer::train(texts, 48, 1).serialized();
  const fs::path dir = root / "pristine";
  fedvlm::data::DatasetWriter writer(dir, info, 2, false);
  writer.write_split("public", make_samples(3, 7));
  writer.write_split("test", make_samples(2, 8));
  for (int client = 0; client < kClients; ++client) writer.write_client(client, make_samples(client == 2 ? 0 : 2 + client % 2, client));
  writer.commit();
  return dir;
}

// An integer the checks care about: mostly small or at a boundary, sometimes anything.
std::int64_t interesting_value(FuzzedDataProvider& input) {
  switch (input.ConsumeIntegralInRange(0, 3)) {
    case 0: return input.ConsumeIntegralInRange<std::int64_t>(-2, 40);
    case 1: return input.PickValueInArray<std::int64_t>({std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max(),
                                                         std::numeric_limits<std::int32_t>::max(), std::int64_t{1} << 32,
                                                         std::int64_t{1} << 62, -(std::int64_t{1} << 40)});
    default: return input.ConsumeIntegral<std::int64_t>();
  }
}

void write_element(hid_t dataset, FuzzedDataProvider& input) {
  const hid_t space = H5Dget_space(dataset);
  const hssize_t count = H5Sget_simple_extent_npoints(space);
  const int rank = H5Sget_simple_extent_ndims(space);
  if (count > 0 && rank > 0) {
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank)), point(static_cast<std::size_t>(rank));
    H5Sget_simple_extent_dims(space, dims.data(), nullptr);
    hsize_t flat = input.ConsumeIntegralInRange<hsize_t>(0, static_cast<hsize_t>(count) - 1);
    for (int d = rank - 1; d >= 0; --d) point[static_cast<std::size_t>(d)] = flat % dims[d], flat /= dims[d];
    H5Sselect_elements(space, H5S_SELECT_SET, 1, point.data());
    const hsize_t one = 1;
    const hid_t memory = H5Screate_simple(1, &one, nullptr);
    const hid_t type = H5Dget_type(dataset);
    if (H5Tget_class(type) == H5T_FLOAT) {
      const double value = input.PickValueInArray<double>({-1.0, 0.0, 0.5, 1.0, 2.0, std::numeric_limits<double>::quiet_NaN(),
                                                           std::numeric_limits<double>::infinity(), 1e30});
      H5Dwrite(dataset, H5T_NATIVE_DOUBLE, memory, space, H5P_DEFAULT, &value);
    } else {
      const std::int64_t value = interesting_value(input);
      H5Dwrite(dataset, H5T_NATIVE_INT64, memory, space, H5P_DEFAULT, &value);
    }
    H5Tclose(type);
    H5Sclose(memory);
  }
  H5Sclose(space);
}

void resize(hid_t dataset, FuzzedDataProvider& input) {
  const hid_t space = H5Dget_space(dataset);
  std::array<hsize_t, H5S_MAX_RANK> dims{};
  const int rank = H5Sget_simple_extent_ndims(space);
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  H5Sclose(space);
  if (rank <= 0) return;
  dims[0] = input.ConsumeIntegralInRange<hsize_t>(0, dims[0] + 3);
  H5Dset_extent(dataset, dims.data());  // fails on a fixed-size dataset: nothing changes
}

void rewrite_root_attribute(hid_t file, const char* name, FuzzedDataProvider& input) {
  std::vector<std::int64_t> values(input.ConsumeIntegralInRange<std::size_t>(0, 4));
  for (auto& value : values) value = interesting_value(input);
  if (H5Aexists(file, name) > 0) H5Adelete(file, name);
  const hsize_t count = values.size();
  const hid_t space = input.ConsumeBool() && count == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &count, nullptr);
  const hid_t attribute = H5Acreate2(file, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
  if (attribute >= 0 && count > 0) H5Awrite(attribute, H5T_NATIVE_INT64, values.data());
  if (attribute >= 0) H5Aclose(attribute);
  H5Sclose(space);
}

void apply_edits(const fs::path& dir, FuzzedDataProvider& input) {
  std::array<hid_t, kFiles.size()> files{};
  for (std::size_t f = 0; f < kFiles.size(); ++f) files[f] = H5Fopen((dir / kFiles[f]).c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  for (int edit = 0; edit < 6 && input.remaining_bytes() > 0; ++edit) {
    const std::size_t f = input.ConsumeIntegralInRange<std::size_t>(0, kFiles.size() - 1);
    if (files[f] < 0) continue;
    if (f == 0 && input.ConsumeIntegralInRange(0, 3) == 0) {
      const char* name = input.PickValueInArray(kRootAttributes);
      if (input.ConsumeBool()) rewrite_root_attribute(files[f], name, input);
      else H5Adelete(files[f], name);
      continue;
    }
    std::string path;
    if (f == 0) {
      switch (input.ConsumeIntegralInRange(0, 2)) {
        case 0: path = input.PickValueInArray<std::string>({"/clients/shard", "/clients/num_samples", "/tokenizer/model"}); break;
        case 1: path = std::string("/public/") + input.PickValueInArray(kSplitArrays); break;
        default: path = std::string("/test/") + input.PickValueInArray(kSplitArrays); break;
      }
    } else {
      path = std::string("/train/") + input.PickValueInArray(kSplitArrays);
    }
    if (H5Lexists(files[f], path.c_str(), H5P_DEFAULT) <= 0) continue;
    switch (input.ConsumeIntegralInRange(0, 5)) {
      case 0: H5Ldelete(files[f], path.c_str(), H5P_DEFAULT); break;
      case 1: {
        const hid_t dataset = H5Dopen2(files[f], path.c_str(), H5P_DEFAULT);
        resize(dataset, input);
        H5Dclose(dataset);
        break;
      }
      default: {
        const hid_t dataset = H5Dopen2(files[f], path.c_str(), H5P_DEFAULT);
        write_element(dataset, input);
        H5Dclose(dataset);
      }
    }
  }
  for (hid_t file : files)
    if (file >= 0) H5Fclose(file);
}

// The pristine files' bytes, read once: written anew for every input. (std::filesystem::copy_file
// fails with EINTR when libFuzzer's timer signal arrives during its sendfile.)
std::vector<std::vector<std::uint8_t>> read_files(const fs::path& dir) {
  std::vector<std::vector<std::uint8_t>> contents;
  for (const char* name : kFiles) {
    std::ifstream in(dir / name, std::ios::binary);
    contents.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return contents;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // fuzz_dataset.cpp says why
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fedvlm::fuzz::ScratchDir scratch("fedvlm-fuzz-dataset-fields");
  static const std::vector<std::vector<std::uint8_t>> pristine = read_files(pristine_dataset(scratch.path()));
  const fs::path dir = scratch.path() / "edited";
  fs::create_directories(dir);
  for (std::size_t f = 0; f < kFiles.size(); ++f)
    fedvlm::fuzz::write_file(dir / kFiles[f], pristine[f].data(), pristine[f].size());
  FuzzedDataProvider input(data, size);
  apply_edits(dir, input);

  fedvlm::fuzz::expect_only_fedvlm_errors("DatasetReader", [&] {
    fedvlm::data::DatasetReader reader(dir);
    (void)reader.read_split("public");
    (void)reader.read_split("test");
    const std::int64_t clients = std::min(reader.info().num_clients, kMaxClientsRead);
    for (std::int64_t client = 0; client < clients; ++client) (void)reader.read_client(client);
  });
  bool valid = false;
  fedvlm::fuzz::expect_only_fedvlm_errors("validate_dataset", [&] { valid = fedvlm::data::validate_dataset(dir).empty(); });
  if (!valid) return 0;
  // As `fedvlm-prep inspect`: statistics of a dataset the validator passed.
  fedvlm::fuzz::expect_only_fedvlm_errors("dataset_statistics", [&] {
    fedvlm::data::DatasetReader reader(dir);
    const auto statistics = fedvlm::data::dataset_statistics(reader);
    (void)fedvlm::data::format_statistics(reader.info(), statistics);
  });
  return 0;
}
