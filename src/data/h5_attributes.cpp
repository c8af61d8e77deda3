// Attributes: written the way h5py writes them (variable-length UTF-8 strings, int64), read
// leniently (fixed-length strings, any integer width) so h5py-made datasets just work.
#include <algorithm>
#include <cstring>

#include "h5.hpp"

namespace fedvlm::data::h5 {
namespace {

Handle open_attribute(hid_t object, const std::string& name) {
  if (!has_attribute(object, name))
    throw InputError(fmt::format("{}: missing attribute '{}'", describe(object), name));
  return Handle(FEDVLM_CHECK_HDF5(H5Aopen(object, name.c_str(), H5P_DEFAULT)), H5Aclose);
}

Handle string_type(bool variable, std::size_t size = 0, H5T_cset_t cset = H5T_CSET_UTF8) {
  Handle type(FEDVLM_CHECK_HDF5(H5Tcopy(H5T_C_S1)), H5Tclose);
  FEDVLM_CHECK_HDF5(H5Tset_size(type.get(), variable ? H5T_VARIABLE : size));
  FEDVLM_CHECK_HDF5(H5Tset_cset(type.get(), cset));
  return type;
}

Handle create_attribute(hid_t object, const std::string& name, hid_t type, std::int64_t count, bool scalar) {
  if (has_attribute(object, name)) FEDVLM_CHECK_HDF5(H5Adelete(object, name.c_str()));
  hsize_t extent = static_cast<hsize_t>(count);
  Handle space(scalar ? FEDVLM_CHECK_HDF5(H5Screate(H5S_SCALAR)) : FEDVLM_CHECK_HDF5(H5Screate_simple(1, &extent, nullptr)),
               H5Sclose);
  return Handle(FEDVLM_CHECK_HDF5(H5Acreate2(object, name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT)),
                H5Aclose);
}

void write_strings(hid_t object, const std::string& name, const std::vector<std::string>& values, bool scalar) {
  Handle type = string_type(true);
  Handle attribute = create_attribute(object, name, type.get(), static_cast<std::int64_t>(values.size()), scalar);
  std::vector<const char*> pointers;
  for (const auto& value : values) pointers.push_back(value.c_str());
  if (!pointers.empty()) FEDVLM_CHECK_HDF5(H5Awrite(attribute.get(), type.get(), pointers.data()));
}

std::int64_t element_count(hid_t object, const std::string& name, hid_t attribute) {
  Handle space(FEDVLM_CHECK_HDF5(H5Aget_space(attribute)), H5Sclose);
  const std::int64_t count = FEDVLM_CHECK_HDF5(H5Sget_simple_extent_npoints(space.get()));
  // An attribute is stored whole, at least a byte per element: a dataspace declaring more comes
  // from a damaged header, and the buffers sized from it would fail to allocate.
  const std::uint64_t stored = H5Aget_storage_size(attribute);
  if (static_cast<std::uint64_t>(count) > std::max<std::uint64_t>(stored, 1))
    throw InputError(fmt::format("{}: attribute '{}' declares {} elements in {} stored bytes (damaged?)", describe(object),
                                 name, count, stored));
  return count;
}

H5T_class_t class_of(hid_t attribute) {
  Handle type(FEDVLM_CHECK_HDF5(H5Aget_type(attribute)), H5Tclose);
  return H5Tget_class(type.get());
}

}  // namespace

bool has_attribute(hid_t object, const std::string& name) {
  return FEDVLM_CHECK_HDF5(H5Aexists(object, name.c_str())) > 0;
}

std::vector<std::string> attribute_names(hid_t object) {
  H5O_info_t info;
  FEDVLM_CHECK_HDF5(H5Oget_info2(object, &info, H5O_INFO_NUM_ATTRS));
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.num_attrs; ++i) {
    ssize_t length = FEDVLM_CHECK_HDF5(H5Aget_name_by_idx(object, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT));
    std::string name(static_cast<std::size_t>(length) + 1, '\0');
    FEDVLM_CHECK_HDF5(H5Aget_name_by_idx(object, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT));
    name.resize(static_cast<std::size_t>(length));
    names.push_back(std::move(name));
  }
  return names;
}

void write_attribute(hid_t object, const std::string& name, const std::string& value) {
  write_strings(object, name, {value}, true);
}

void write_attribute(hid_t object, const std::string& name, const std::vector<std::string>& values) {
  write_strings(object, name, values, false);
}

void write_attribute(hid_t object, const std::string& name, std::int64_t value) {
  Handle attribute = create_attribute(object, name, H5T_STD_I64LE, 1, true);
  FEDVLM_CHECK_HDF5(H5Awrite(attribute.get(), H5T_NATIVE_INT64, &value));
}

void write_attribute(hid_t object, const std::string& name, const std::vector<std::int64_t>& values) {
  Handle attribute = create_attribute(object, name, H5T_STD_I64LE, static_cast<std::int64_t>(values.size()), false);
  if (!values.empty()) FEDVLM_CHECK_HDF5(H5Awrite(attribute.get(), H5T_NATIVE_INT64, values.data()));
}

std::vector<std::string> read_strings_attribute(hid_t object, const std::string& name) {
  Handle attribute = open_attribute(object, name);
  std::int64_t count = element_count(object, name, attribute.get());
  if (count == 0) return {};  // h5py stores an empty list as an empty float array
  if (class_of(attribute.get()) != H5T_STRING)
    throw InputError(fmt::format("{}: attribute '{}' is not a string or list of strings", describe(object), name));
  Handle file_type(FEDVLM_CHECK_HDF5(H5Aget_type(attribute.get())), H5Tclose);
  // Read in the stored character set: HDF5 converts no strings between ASCII and UTF-8, and
  // h5py writes bytes (numpy's S dtype) as ASCII.
  const H5T_cset_t cset = FEDVLM_CHECK_HDF5(H5Tget_cset(file_type.get()));
  std::vector<std::string> values;
  if (FEDVLM_CHECK_HDF5(H5Tis_variable_str(file_type.get())) > 0) {
    Handle type = string_type(true, 0, cset);
    std::vector<char*> pointers(static_cast<std::size_t>(count), nullptr);
    FEDVLM_CHECK_HDF5(H5Aread(attribute.get(), type.get(), pointers.data()));
    for (char* p : pointers) values.emplace_back(p != nullptr ? p : "");
    Handle space(FEDVLM_CHECK_HDF5(H5Aget_space(attribute.get())), H5Sclose);
    FEDVLM_CHECK_HDF5(H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, pointers.data()));
  } else {
    // The bytes as stored: converted to C's null-terminated strings of the same width, a string
    // that fills its width (numpy's S arrays, null-padded) would lose its last character.
    std::size_t size = H5Tget_size(file_type.get());
    Handle type(FEDVLM_CHECK_HDF5(H5Tcopy(file_type.get())), H5Tclose);
    std::vector<char> buffer(size * static_cast<std::size_t>(count));
    FEDVLM_CHECK_HDF5(H5Aread(attribute.get(), type.get(), buffer.data()));
    for (std::int64_t i = 0; i < count; ++i) {
      const char* start = buffer.data() + i * size;
      std::string value(start, strnlen(start, size));
      while (!value.empty() && value.back() == ' ') value.pop_back();  // space-padded fixed strings
      values.push_back(std::move(value));
    }
  }
  return values;
}

std::string read_string_attribute(hid_t object, const std::string& name) {
  auto values = read_strings_attribute(object, name);
  if (values.size() != 1)
    throw InputError(fmt::format("{}: attribute '{}' must be one string, has {}", describe(object), name, values.size()));
  return values[0];
}

std::vector<std::int64_t> read_ints_attribute(hid_t object, const std::string& name) {
  Handle attribute = open_attribute(object, name);
  std::vector<std::int64_t> values(static_cast<std::size_t>(element_count(object, name, attribute.get())));
  if (values.empty()) return values;
  if (class_of(attribute.get()) != H5T_INTEGER)
    throw InputError(fmt::format("{}: attribute '{}' is not an integer", describe(object), name));
  FEDVLM_CHECK_HDF5(H5Aread(attribute.get(), H5T_NATIVE_INT64, values.data()));
  return values;
}

std::int64_t read_int_attribute(hid_t object, const std::string& name) {
  auto values = read_ints_attribute(object, name);
  if (values.size() != 1)
    throw InputError(fmt::format("{}: attribute '{}' must be one integer, has {}", describe(object), name, values.size()));
  return values[0];
}

std::string read_attribute_as_text(hid_t object, const std::string& name) {
  Handle attribute = open_attribute(object, name);
  switch (class_of(attribute.get())) {
    case H5T_STRING: return read_string_attribute(object, name);
    case H5T_INTEGER: return std::to_string(read_int_attribute(object, name));
    case H5T_FLOAT: {
      if (element_count(object, name, attribute.get()) != 1)
        throw InputError(fmt::format("{}: attribute '{}' must be a scalar", describe(object), name));
      double value = 0;
      FEDVLM_CHECK_HDF5(H5Aread(attribute.get(), H5T_NATIVE_DOUBLE, &value));
      return fmt::format("{}", value);
    }
    default: throw InputError(fmt::format("{}: attribute '{}' is not a string or number", describe(object), name));
  }
}

}  // namespace fedvlm::data::h5
