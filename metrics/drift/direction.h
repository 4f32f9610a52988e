// Which side of the exchange a value came from: the request (`input`) or the response (`output`).
// Used as the `direction` label of every drift series.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace mlsidecar::drift {

enum class Direction : std::uint8_t { input, output };
inline constexpr std::size_t kDirectionCount = 2;

constexpr std::string_view direction_name(Direction d) {
  return d == Direction::input ? "input" : "output";
}

constexpr std::optional<Direction> parse_direction(std::string_view s) {
  if (s == "input") return Direction::input;
  if (s == "output") return Direction::output;
  return std::nullopt;
}

}  // namespace mlsidecar::drift
