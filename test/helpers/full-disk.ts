/**
 * A real full disk for a server under test: `wrap` for startCli that mounts a small tmpfs over
 * `mountPoint` in the server's own mount namespace (unshare), then execs the server there.
 */
export function tmpfsWrap(mountPoint: string, bytes: number): string[] {
  return [
    'unshare',
    ...(process.getuid?.() === 0 ? [] : ['--user', '--map-root-user']),
    '--mount',
    'sh',
    '-c',
    // "$0" is the mount point; exec keeps the server's pid the child's.
    `mkdir -p "$0" && mount -t tmpfs -o size=${bytes} tmpfs "$0" && exec "$@"`,
    mountPoint,
  ];
}
