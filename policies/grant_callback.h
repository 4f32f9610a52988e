// GrantCallback: a move-only `void()` callable that the admission queue stores per waiter and
// invokes once when the waiter is granted a slot. Callables up to kInlineSize bytes (a pointer, an
// executor and a shared_ptr, say) live inline, so queueing one allocates nothing; larger ones fall
// back to the heap. std::function would do, but it requires copyable callables, and a waiter
// typically holds a move-only handle (a unique_ptr or a coroutine handle).
//
// Thread safety: none; it is a value, owned by one thread at a time.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace mlsidecar::policies {

class GrantCallback {
 public:
  static constexpr std::size_t kInlineSize = 48;

  GrantCallback() = default;
  template <typename F,
            typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, GrantCallback>>>
  GrantCallback(F&& f) {  // NOLINT(google-explicit-constructor): lambdas convert implicitly
    using Fn = std::decay_t<F>;
    if constexpr (sizeof(Fn) <= kInlineSize && alignof(Fn) <= alignof(std::max_align_t) &&
                  std::is_nothrow_move_constructible_v<Fn>) {
      ::new (static_cast<void*>(storage_)) Fn(std::forward<F>(f));
      ops_ = &inline_ops<Fn>;
    } else {
      *reinterpret_cast<Fn**>(storage_) = new Fn(std::forward<F>(f));
      ops_ = &heap_ops<Fn>;
    }
  }
  GrantCallback(GrantCallback&& other) noexcept { take(other); }
  GrantCallback& operator=(GrantCallback&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  GrantCallback(const GrantCallback&) = delete;
  GrantCallback& operator=(const GrantCallback&) = delete;
  ~GrantCallback() { reset(); }

  explicit operator bool() const { return ops_ != nullptr; }
  void operator()() { ops_->call(storage_); }
  void reset() {
    if (ops_ != nullptr) {
      ops_->destroy(storage_);
      ops_ = nullptr;
    }
  }

 private:
  struct Ops {
    void (*call)(void*);
    void (*move)(void* from, void* to);  // move-constructs into `to` and destroys `from`
    void (*destroy)(void*);
  };
  template <typename Fn>
  static constexpr Ops inline_ops{[](void* p) { (*static_cast<Fn*>(p))(); },
                                  [](void* from, void* to) {
                                    ::new (to) Fn(std::move(*static_cast<Fn*>(from)));
                                    static_cast<Fn*>(from)->~Fn();
                                  },
                                  [](void* p) { static_cast<Fn*>(p)->~Fn(); }};
  template <typename Fn>
  static constexpr Ops heap_ops{
      [](void* p) { (**static_cast<Fn**>(p))(); },
      [](void* from, void* to) { *static_cast<Fn**>(to) = *static_cast<Fn**>(from); },
      [](void* p) { delete *static_cast<Fn**>(p); }};

  void take(GrantCallback& other) noexcept {
    if (other.ops_ != nullptr) {
      other.ops_->move(other.storage_, storage_);
      ops_ = other.ops_;
      other.ops_ = nullptr;
    }
  }

  alignas(std::max_align_t) unsigned char storage_[kInlineSize];
  const Ops* ops_ = nullptr;
};

}  // namespace mlsidecar::policies
