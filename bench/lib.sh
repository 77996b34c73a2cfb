# Shared by the bench scripts: where cargo put the release artifacts (.cargo/config.toml names
# the target, so they live under target/<triple>/release).
rel() {
  local d
  for d in target/x86_64-unknown-linux-gnu/release target/release; do
    if [ -e "$d/$1" ]; then echo "$PWD/$d/$1"; return 0; fi
  done
  echo "cannot find $1 under target/: build it first" >&2
  return 1
}
