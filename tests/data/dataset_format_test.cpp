#include <hdf5.h>

#include "data_test_support.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/data/inspect.hpp"

namespace fedvlm::data {
namespace {
using namespace testing;
namespace fs = std::filesystem;

std::vector<Samples> varied_clients(std::int64_t count) {
  std::vector<Samples> clients;
  for (std::int64_t k = 0; k < count; ++k) clients.push_back(make_samples(k % 4 == 2 ? 0 : 3 + k % 5, 100 + k));
  return clients;
}

TEST(DatasetFormat, RoundTripOverSeveralShardsReadsBackEqual) {
  TempDir tmp;
  auto clients = varied_clients(11);
  Samples public_split = make_samples(9, 1), test_split = make_samples(7, 2);
  write_dataset(tmp / "ds", clients, 3, public_split, test_split);

  DatasetReader reader(tmp / "ds");
  EXPECT_EQ(reader.info().num_shards, 3);
  expect_same_samples(reader.read_split("public"), public_split);
  expect_same_samples(reader.read_split("test"), test_split);
  for (std::int64_t k = 10; k >= 0; --k) {  // backwards: shards open out of order
    SCOPED_TRACE(k);
    Samples got = reader.read_client(k);
    if (clients[k].empty()) {
      EXPECT_EQ(got.size(), 0);
      EXPECT_EQ(got.prompt_ptr, std::vector<std::int64_t>{0});
    } else {
      expect_same_samples(got, clients[k]);
    }
    EXPECT_EQ(reader.client_samples(k), clients[k].size());
  }
}

TEST(DatasetFormat, ShardsHoldContiguousClientRangesBalancedByCount) {
  TempDir tmp;
  write_dataset(tmp / "ds", varied_clients(10), 4, {}, {});
  DatasetReader reader(tmp / "ds");
  EXPECT_EQ(reader.info().client_shard, (std::vector<std::int32_t>{0, 0, 1, 1, 1, 2, 2, 3, 3, 3}));
  for (int s = 0; s < 4; ++s) EXPECT_TRUE(fs::exists(tmp / "ds" / fmt::format("shard-{:05d}.h5", s)));
  EXPECT_FALSE(fs::exists(tmp / "ds" / "shard-00004.h5"));
}

TEST(DatasetFormat, MoreShardsThanClientsGivesOneShardPerClient) {
  TempDir tmp;
  write_dataset(tmp / "ds", varied_clients(2), 8, {}, {});
  DatasetReader reader(tmp / "ds");
  EXPECT_EQ(reader.info().num_shards, 2);
}

TEST(DatasetFormat, MetaAttributesRoundTrip) {
  TempDir tmp;
  auto clients = varied_clients(5);
  write_dataset(tmp / "ds", clients, 2, {}, {});
  DatasetReader reader(tmp / "ds");
  const DatasetInfo expected = make_info(5);
  const DatasetInfo& info = reader.info();
  EXPECT_EQ(info.name, expected.name);
  EXPECT_EQ(info.tasks, expected.tasks);
  EXPECT_EQ(info.class_names, expected.class_names);
  EXPECT_EQ(info.num_clients, 5);
  EXPECT_EQ(info.image_shape, expected.image_shape);
  EXPECT_EQ(info.partition, expected.partition);
  EXPECT_EQ(info.tokenizer_model, expected.tokenizer_model);
  for (std::int64_t k = 0; k < 5; ++k) EXPECT_EQ(info.client_samples[k], clients[k].size());
  EXPECT_EQ(info.task_index("cap"), 1);
  EXPECT_EQ(info.task_index("vqa"), -1);
}

TEST(DatasetFormat, EmptySplitsAreValidAndReadAsEmpty) {
  TempDir tmp;
  std::vector<Samples> clients(3);  // every client empty, no split written
  write_dataset(tmp / "ds", clients, 2, {}, {});
  DatasetReader reader(tmp / "ds");
  EXPECT_EQ(reader.split_size("public"), 0);
  EXPECT_EQ(reader.read_split("test").size(), 0);
  EXPECT_EQ(reader.read_client(2).size(), 0);
  EXPECT_TRUE(validate_dataset(tmp / "ds").empty());
}

TEST(DatasetFormat, ReadSplitRowRangeEqualsSelect) {
  TempDir tmp;
  Samples test_split = make_samples(12, 5);
  write_dataset(tmp / "ds", varied_clients(1), 1, {}, test_split);
  DatasetReader reader(tmp / "ds");
  std::vector<std::int64_t> rows{4, 5, 6, 7, 8};
  expect_same_samples(reader.read_split("test", 4, 9), test_split.select(rows));
  EXPECT_EQ(reader.read_split("test", 3, 3).size(), 0);
  EXPECT_THROW(reader.read_split("test", 5, 13), InputError);
  EXPECT_THROW(reader.read_split("train"), InputError);
}

TEST(DatasetFormat, WriterWithoutCommitLeavesNothing) {
  TempDir tmp;
  try {
    DatasetWriter writer(tmp / "ds", make_info(2), 1, false);
    writer.write_client(0, make_samples(3, 1));
    throw std::runtime_error("builder failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(fs::is_empty(tmp.path()));  // neither the target nor the temporary directory
}

TEST(DatasetFormat, ExistingTargetIsRefusedWithoutOverwriteAndReplacedWithIt) {
  TempDir tmp;
  write_dataset(tmp / "ds", varied_clients(2), 1, make_samples(2, 1), {});
  EXPECT_THROW(DatasetWriter(tmp / "ds", make_info(2), 1, false), InputError);
  write_dataset(tmp / "ds", varied_clients(3), 1, make_samples(5, 1), {}, /*overwrite=*/true);
  DatasetReader reader(tmp / "ds");
  EXPECT_EQ(reader.info().num_clients, 3);
  EXPECT_EQ(reader.split_size("public"), 5);
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()), 1);  // no old copy left
}

TEST(DatasetFormat, WriterRejectsOutOfOrderClientsIncompleteCommitAndBadContent) {
  TempDir tmp;
  DatasetWriter writer(tmp / "ds", make_info(3), 1, false);
  EXPECT_THROW(writer.write_client(1, make_samples(2, 1)), Error);
  writer.write_client(0, make_samples(2, 1));
  EXPECT_THROW(writer.write_client(0, make_samples(2, 1)), Error);
  Samples bad_label = make_samples(2, 1);
  bad_label.label[1] = 3;  // three classes
  EXPECT_THROW(writer.write_client(1, bad_label), Error);
  Samples bad_token = make_samples(2, 1);
  bad_token.answer[0] = 100000;
  EXPECT_THROW(writer.write_split("public", bad_token), Error);
  EXPECT_THROW(writer.write_split("train", make_samples(1, 1)), InputError);
  EXPECT_THROW(writer.commit(), InputError);  // clients 1 and 2 missing
}

TEST(DatasetFormat, ReaderReportsMissingMetaWrongFormatAndClientRange) {
  TempDir tmp;
  fs::create_directory(tmp / "empty");
  try {
    DatasetReader reader(tmp / "empty");
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("missing meta.h5"), std::string::npos) << e.what();
  }

  write_dataset(tmp / "ds", varied_clients(2), 1, {}, {});
  {
    DatasetReader reader(tmp / "ds");  // closed before the file is edited below
    EXPECT_THROW(reader.read_client(2), InputError);
    EXPECT_THROW(reader.read_client(-1), InputError);
  }

  hid_t file = H5Fopen((tmp / "ds" / "meta.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  hid_t space = H5Screate(H5S_SCALAR);
  H5Adelete(file, "version");
  hid_t attribute = H5Acreate2(file, "version", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
  std::int64_t version = 7;
  H5Awrite(attribute, H5T_NATIVE_INT64, &version);
  H5Aclose(attribute);
  H5Sclose(space);
  H5Fclose(file);
  try {
    DatasetReader broken(tmp / "ds");
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("version 7"), std::string::npos) << e.what();
  }
}

TEST(DatasetFormat, ReaderNamesFileAndPathOfAMissingDataset) {
  TempDir tmp;
  write_dataset(tmp / "ds", varied_clients(2), 1, {}, {});
  hid_t file = H5Fopen((tmp / "ds" / "shard-00000.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(H5Ldelete(file, "/train/answer_ptr", H5P_DEFAULT), 0);
  H5Fclose(file);
  DatasetReader reader(tmp / "ds");
  try {
    reader.read_client(0);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("shard-00000.h5:/train/answer_ptr: missing dataset"), std::string::npos)
        << e.what();
  }
}

// Found while making the fuzz seeds (tests/fuzz/one_file_dataset.py --fixed-strings): string
// attributes stored as ASCII, as h5py writes numpy bytes and C programs write by default, failed
// in HDF5 ("no appropriate function for conversion path"): the reader asked for UTF-8. And a
// fixed-length string filling its width lost its last character ("groun").
TEST(DatasetFormat, AsciiStringAttributesAreRead) {
  TempDir tmp;
  write_dataset(tmp / "ds", varied_clients(2), 1, {}, {});
  hid_t file = H5Fopen((tmp / "ds" / "meta.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  hid_t fixed = H5Tcopy(H5T_C_S1);  // ASCII is HDF5's default character set
  H5Tset_size(fixed, 8);
  hid_t scalar = H5Screate(H5S_SCALAR);
  H5Adelete(file, "name");
  hid_t name = H5Acreate2(file, "name", fixed, scalar, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(H5Awrite(name, fixed, "ascii   "), 0);
  hid_t variable = H5Tcopy(H5T_C_S1);
  H5Tset_size(variable, H5T_VARIABLE);
  const hsize_t two = 2;
  hid_t list = H5Screate_simple(1, &two, nullptr);
  H5Adelete(file, "tasks");
  hid_t tasks = H5Acreate2(file, "tasks", variable, list, H5P_DEFAULT, H5P_DEFAULT);
  const char* task_names[] = {"cls", "cap"};
  ASSERT_GE(H5Awrite(tasks, variable, task_names), 0);
  // As h5py writes numpy.array([b"zero", b"one", b"two"]): width 4, null-padded, "zero" fills it.
  hid_t padded = H5Tcopy(H5T_C_S1);
  H5Tset_size(padded, 4);
  H5Tset_strpad(padded, H5T_STR_NULLPAD);
  const hsize_t three = 3;
  hid_t classes_space = H5Screate_simple(1, &three, nullptr);
  H5Adelete(file, "class_names");
  hid_t classes = H5Acreate2(file, "class_names", padded, classes_space, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(H5Awrite(classes, padded, "zeroone\0two\0"), 0);
  for (hid_t attribute : {name, tasks, classes}) H5Aclose(attribute);
  for (hid_t space : {scalar, list, classes_space}) H5Sclose(space);
  for (hid_t type : {fixed, variable, padded}) H5Tclose(type);
  H5Fclose(file);

  DatasetReader reader(tmp / "ds");
  EXPECT_EQ(reader.info().name, "ascii");  // fixed-length strings lose their space padding
  EXPECT_EQ(reader.info().tasks, (std::vector<std::string>{"cls", "cap"}));
  EXPECT_EQ(reader.info().class_names, (std::vector<std::string>{"zero", "one", "two"}));
  EXPECT_TRUE(validate_dataset(tmp / "ds").empty());
}

// Found by tests/fuzz/fuzz_dataset: a header declaring exabytes made the reader allocate for them
// (std::bad_alloc escaped). Here /public/label declares 2^40 rows and stores none.
TEST(DatasetFormat, AShapeFarBeyondTheStoredBytesIsRefused) {
  TempDir tmp;
  write_dataset(tmp / "ds", varied_clients(2), 1, make_samples(3, 1), {});
  hid_t file = H5Fopen((tmp / "ds" / "meta.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(H5Ldelete(file, "/public/label", H5P_DEFAULT), 0);
  const hsize_t rows = hsize_t{1} << 40, chunk = 1024;
  hid_t space = H5Screate_simple(1, &rows, nullptr);
  hid_t create = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(create, 1, &chunk);
  hid_t label = H5Dcreate2(file, "/public/label", H5T_STD_I32LE, space, H5P_DEFAULT, create, H5P_DEFAULT);
  ASSERT_GE(label, 0);
  H5Dclose(label);
  H5Pclose(create);
  H5Sclose(space);
  H5Fclose(file);

  DatasetReader reader(tmp / "ds");
  try {
    reader.read_split("public");
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("meta.h5:/public/label: shape [1099511627776] declares 4398046511104 bytes, "
                                         "but the file stores 0 bytes for it"),
              std::string::npos)
        << e.what();
  }
  const auto violations = validate_dataset(tmp / "ds");
  EXPECT_TRUE(std::any_of(violations.begin(), violations.end(), [](const Violation& v) {
    return v.message.find("declares 4398046511104 bytes") != std::string::npos;
  }));
}

}  // namespace
}  // namespace fedvlm::data
