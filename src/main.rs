// mimalloc instead of glibc's malloc: per request the server allocates and
// frees many small objects across threads (decode on the receive loop, free
// on the reply thread). Measured in BENCHMARKS-history.md: auth-pap with 10k codes
// 37-40k -> 41-56k req/s on the 2-vCPU development machine, RSS +10 MB.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    radgate::cli::main()
}
