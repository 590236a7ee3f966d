/** This machine's platform in the OCI image spec's words (Go's GOARCH names), the default for images made or pulled here. */
const GO_ARCH: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', s390x: 's390x', ppc64: 'ppc64le', riscv64: 'riscv64' };

export const HOST_ARCH: string = GO_ARCH[process.arch] ?? process.arch;
export const HOST_OS = 'linux';
