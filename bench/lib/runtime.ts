// Runtime settings for the gateway process that the benchmark measures next to the defaults. They live in the
// environment of the process, so they belong to how Porthole is started (systemd unit, container), not to its
// code. See docs/performance.md for what they buy.
/**
 * glibc malloc: keep freed memory instead of handing it back to the kernel at once. Node allocates a fresh
 * 64 KiB buffer for every socket read it does not control (client sockets, node:http's body copies); with the
 * defaults glibc trims and regrows its heap all the time, and the page faults cost more than the copying.
 */
export const TUNED_ENV: NodeJS.ProcessEnv = {
  MALLOC_TRIM_THRESHOLD_: String(256 * 1024 * 1024),
  MALLOC_TOP_PAD_: String(64 * 1024 * 1024),
  MALLOC_MMAP_THRESHOLD_: String(1024 * 1024),
};
