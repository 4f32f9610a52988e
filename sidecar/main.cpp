#include <cstdio>
int main() {
  std::puts("mlsidecar: under construction");
  return 0;
}
