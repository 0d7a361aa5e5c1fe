import { closestMatch } from 'leven';

// The entries of <debugfs>/kho a `debugfs` step may name (kernel/liveupdate/kexec_handover_debugfs.c,
// see kho/debugfs.ts): a typo such as kho/otu/fdt would otherwise pass as "absent" forever.

/** Files and directories per side; `finalize` (6.16–7.0) and `abort` (6.16–6.18) are for older kernels. */
const ENTRIES = {
  out: ['fdt', 'scratch_phys', 'scratch_len', 'sub_fdts', 'finalize', 'abort'],
  in: ['fdt', 'sub_fdts'],
} as const;

/** The optional prefix, exactly as the debugfs step strips it. */
const PREFIX = /^\/?(?:sys\/kernel\/debug\/)?/;

const sides = Object.entries(ENTRIES).map(([side, names]) => `${side}(?:/(?:${names.join('|')}))?`);
/** Every path the step can find, for validation and for editors (the JSON Schema's `pattern`). */
export const KHO_PATH_PATTERN = `^/?(?:sys/kernel/debug/)?kho(?:/|/(?:${sides.join('|')})|/(?:out|in)/sub_fdts/[^/]+)?$`;
const KHO_PATH = new RegExp(KHO_PATH_PATTERN);

const KNOWN = ['kho', ...Object.entries(ENTRIES).flatMap(([side, names]) => [`kho/${side}`, ...names.map((n) => `kho/${side}/${n}`)])];

/** Why `path` names no KHO debugfs entry, with a suggestion when one is close; undefined when it is fine. */
export function debugfsPathProblem(path: string): string | undefined {
  if (KHO_PATH.test(path)) return undefined;
  const bare = path.replace(PREFIX, '');
  const name = bare.split('/').at(-1) ?? '';
  const candidates = [...KNOWN, `kho/out/sub_fdts/${name}`, `kho/in/sub_fdts/${name}`].filter((c) => KHO_PATH.test(c));
  const guess = KHO_PATH.test(`kho/${bare}`) ? `kho/${bare}` : closestMatch(bare, candidates, { maxDistance: 3 });
  const hint = guess === undefined ? '' : `; did you mean '${guess}'?`;
  return `'${path}' is not a KHO debugfs entry (kho, kho/out/{fdt,scratch_phys,scratch_len,sub_fdts/<name>}, kho/in/{fdt,sub_fdts/<name>})${hint}`;
}
