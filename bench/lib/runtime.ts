// Runtime settings for the gateway process that the benchmark measures next to the defaults. They live on the
// node command line, so they belong to how Porthole is started (CLI/container), not to its code.
// See docs/performance.md for what they buy.
/** Environment for the tuned run (none needed so far; glibc malloc tuning cut page faults but not CPU). */
export const TUNED_ENV: NodeJS.ProcessEnv = {};
/**
 * A small young generation: socket buffers are malloc'ed outside the V8 heap and only freed when their tiny
 * JS wrappers are collected, so frequent cheap scavenges keep bulk transfers' memory (and CPU) down.
 */
export const TUNED_NODE_FLAGS: string[] = ['--max-semi-space-size=4'];
