// KHO/LUO handover state, read on the host: FDT parsing, the LUO and kexec-metadata blobs, the
// guest's debugfs tree, kernel-log markers and a capability probe.

export * from './fdt.ts';
export * from './luo-blob.ts';
export * from './debugfs.ts';
export * from './state.ts';
export * from './markers.ts';
export * from './caps.ts';
