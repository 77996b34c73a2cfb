# Shared by the bench scripts.

# Build release artifacts the way users get the fast binary: statically linked on x86_64 Linux
# (`cargo static`, see .cargo/config.toml), a plain release build elsewhere.
build_release() {
  if [ "$(uname -sm)" = "Linux x86_64" ]; then cargo static --quiet "$@"; else cargo build --release --quiet "$@"; fi
}

# Where that build put an artifact.
rel() {
  local d
  for d in target/x86_64-unknown-linux-gnu/release target/release; do
    if [ -e "$d/$1" ]; then echo "$PWD/$d/$1"; return 0; fi
  done
  echo "cannot find $1 under target/: build it first" >&2
  return 1
}
