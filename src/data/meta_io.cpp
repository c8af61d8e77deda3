// meta.h5's description of the dataset: root attributes, /partition, /tokenizer, /clients.
#include <algorithm>

#include "split_io.hpp"

namespace fedvlm::data {

int DatasetInfo::task_index(std::string_view task) const {
  auto it = std::find(tasks.begin(), tasks.end(), task);
  return it == tasks.end() ? -1 : static_cast<int>(it - tasks.begin());
}

void write_meta(hid_t file, const DatasetInfo& info) {
  h5::write_attribute(file, "format", std::string("fedvlm"));
  h5::write_attribute(file, "version", std::int64_t{kFormatVersion});
  h5::write_attribute(file, "name", info.name);
  h5::write_attribute(file, "tasks", info.tasks);
  h5::write_attribute(file, "class_names", info.class_names);
  h5::write_attribute(file, "num_clients", info.num_clients);
  h5::write_attribute(file, "image_shape",
                      std::vector<std::int64_t>{info.image_shape.channels, info.image_shape.height, info.image_shape.width});
  h5::Handle partition = h5::create_group(file, "partition");
  for (const auto& [key, value] : info.partition) h5::write_attribute(partition.get(), key, value);
  h5::Handle tokenizer = h5::create_group(file, "tokenizer");
  h5::write_all<std::uint8_t>(tokenizer.get(), "model", info.tokenizer_model,
                              {static_cast<std::int64_t>(info.tokenizer_model.size())});
  h5::Handle clients = h5::create_group(file, "clients");
  h5::write_all<std::int32_t>(clients.get(), "shard", info.client_shard, {info.num_clients});
  h5::write_all<std::int64_t>(clients.get(), "num_samples", info.client_samples, {info.num_clients});
}

DatasetInfo read_meta(hid_t file) {
  const std::string where = h5::describe(file);
  if (!h5::has_attribute(file, "format") || h5::read_attribute_as_text(file, "format") != "fedvlm")
    throw InputError(fmt::format("{}: not a fedvlm dataset (the root attribute format must be \"fedvlm\")", where));
  std::int64_t version = h5::read_int_attribute(file, "version");
  if (version != kFormatVersion)
    throw InputError(fmt::format("{}: format version {} is not supported (this build reads version {})", where,
                                 version, kFormatVersion));
  DatasetInfo info;
  info.name = h5::read_string_attribute(file, "name");
  info.tasks = h5::read_strings_attribute(file, "tasks");
  info.class_names = h5::read_strings_attribute(file, "class_names");
  info.num_clients = h5::read_int_attribute(file, "num_clients");
  if (info.num_clients < 0)
    throw InputError(fmt::format("{}: attribute num_clients = {} is negative", where, info.num_clients));
  auto shape = h5::read_ints_attribute(file, "image_shape");
  if (shape.size() != 3 || *std::min_element(shape.begin(), shape.end()) <= 0)
    throw InputError(fmt::format("{}: attribute image_shape = [{}] must be three positive integers C, H, W", where,
                                 fmt::join(shape, ", ")));
  info.image_shape = {shape[0], shape[1], shape[2]};

  h5::Handle partition = h5::open_group(file, "partition");
  for (const auto& key : h5::attribute_names(partition.get()))
    info.partition[key] = h5::read_attribute_as_text(partition.get(), key);
  h5::Handle tokenizer = h5::open_group(file, "tokenizer");
  info.tokenizer_model = h5::read_all<std::uint8_t>(h5::open_dataset(tokenizer.get(), "model").get());

  h5::Handle clients = h5::open_group(file, "clients");
  h5::Handle shard = h5::open_dataset(clients.get(), "shard");
  h5::Handle samples = h5::open_dataset(clients.get(), "num_samples");
  info.client_shard = h5::read_all<std::int32_t>(shard.get());
  info.client_samples = h5::read_all<std::int64_t>(samples.get());
  for (const auto& [handle, length] : {std::pair{shard.get(), info.client_shard.size()},
                                       std::pair{samples.get(), info.client_samples.size()}}) {
    if (static_cast<std::int64_t>(length) != info.num_clients)
      throw InputError(fmt::format("{}: {} entries, num_clients is {}", h5::describe(handle), length, info.num_clients));
  }
  if (!info.client_shard.empty()) {
    auto [low, high] = std::minmax_element(info.client_shard.begin(), info.client_shard.end());
    if (*low < 0)
      throw InputError(fmt::format("{}: negative shard index {} for client {}", h5::describe(shard.get()), *low,
                                   low - info.client_shard.begin()));
    info.num_shards = std::int64_t{*high} + 1;  // int32's largest index plus one overflows int32
  }
  return info;
}

}  // namespace fedvlm::data
