import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HandoverError } from '../errors.ts';
import { cacheDir } from '../paths.ts';

/** The host's own Debian archive entry: where its packages come from and which key signs them. */
export interface DebianEntry {
  uri: string;
  signedBy?: string;
  /** The entry's own release (the host's codename, e.g. bookworm). */
  suite: string;
  from: string;
}

const APT_DIR = '/etc/apt';

/**
 * Finds the host's main Debian archive in its apt configuration (deb822 `.sources` files first,
 * then one-line `.list` files). The mirror is never written into the repository: we reuse the
 * host's, with another suite name.
 */
export async function hostDebianEntry(aptDir = APT_DIR): Promise<DebianEntry> {
  const files = await listSourceFiles(aptDir);
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '');
    const entries = file.endsWith('.sources') ? parseDeb822(text) : parseOneLine(text);
    const main = entries.find(
      (e) => e.types.includes('deb') && e.components.includes('main') && e.suites.some(isDebianSuite),
    );
    const suite = main?.suites.find(isDebianSuite);
    if (main?.uris[0] !== undefined && suite !== undefined) {
      return { uri: main.uris[0], ...(main.signedBy === undefined ? {} : { signedBy: main.signedBy }), suite, from: file };
    }
  }
  throw new HandoverError(
    'source-failed',
    `no Debian archive entry (Types: deb, a Debian suite, component main) found in ${files.join(', ') || aptDir}`,
  );
}

interface Entry {
  types: string[];
  uris: string[];
  suites: string[];
  components: string[];
  signedBy?: string;
}

async function listSourceFiles(aptDir: string): Promise<string[]> {
  const partsDir = join(aptDir, 'sources.list.d');
  const parts = await readdir(partsDir).catch(() => [] as string[]);
  const sorted = parts.filter((f) => f.endsWith('.sources') || f.endsWith('.list')).sort();
  return [...sorted.map((f) => join(partsDir, f)), join(aptDir, 'sources.list')];
}

/** Security and updates suites carry no linux-source-X.Y we want; the plain codename entry does. */
function isDebianSuite(suite: string): boolean {
  return /^(bookworm|trixie|forky|duke|sid|unstable|stable|testing|oldstable)$/.test(suite);
}

export function parseDeb822(text: string): Entry[] {
  return text
    .split(/\n\s*\n/)
    .map((stanza): Entry | undefined => {
      const fields = new Map<string, string>();
      for (const line of stanza.split('\n')) {
        if (line.startsWith('#')) continue;
        const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
        if (m?.[1] !== undefined && m[2] !== undefined) fields.set(m[1].toLowerCase(), m[2].trim());
      }
      const words = (k: string): string[] => (fields.get(k) ?? '').split(/\s+/).filter(Boolean);
      const signedBy = fields.get('signed-by');
      if (fields.get('enabled') === 'no') return undefined;
      return {
        types: words('types'),
        uris: words('uris'),
        suites: words('suites'),
        components: words('components'),
        ...(signedBy === undefined || signedBy === '' ? {} : { signedBy }),
      };
    })
    .filter((e): e is Entry => e !== undefined && e.types.length > 0);
}

export function parseOneLine(text: string): Entry[] {
  const out: Entry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s+(.*)$/.exec(line);
    if (m?.[1] === undefined || m[3] === undefined || m[4] === undefined) continue;
    const signedBy = /signed-by=(\S+)/.exec(m[2] ?? '')?.[1];
    out.push({
      types: [m[1]],
      uris: [m[3]],
      suites: [m[4]],
      components: (m[5] ?? '').split(/\s+/).filter(Boolean),
      ...(signedBy === undefined ? {} : { signedBy }),
    });
  }
  return out;
}

export interface PrivateApt {
  /** The configuration's own dir (lists, archives, sources). */
  dir: string;
  opts: { outcome: 'source-failed'; env: Record<string, string> };
}

/**
 * An apt configuration of our own: the host's Debian mirror and keyring with another suite and,
 * for a guest of another architecture, only that architecture (APT::Architecture). Its lists,
 * archives and dpkg status are its own files: the host's apt state, sources and dpkg
 * architectures are never touched.
 */
export async function privateApt(suite: string, arch?: string): Promise<PrivateApt> {
  const entry = await hostDebianEntry();
  const dir = await cacheDir('apt', arch === undefined ? suite : `${suite}-${arch}`);
  for (const sub of ['lists/partial', 'archives/partial', 'sources.list.d', 'preferences.d']) {
    await mkdir(join(dir, sub), { recursive: true });
  }
  const stanza = [
    'Types: deb',
    `URIs: ${entry.uri}`,
    `Suites: ${suite}`,
    'Components: main',
    ...(entry.signedBy === undefined ? [] : [`Signed-By: ${entry.signedBy}`]),
  ];
  await writeFile(join(dir, 'sources.list.d', 'handover.sources'), `${stanza.join('\n')}\n`);
  // An empty status of our own: apt then resolves a package's whole dependency closure (what a
  // guest of another architecture needs), and nothing installed on the host is assumed.
  if (arch !== undefined) await writeFile(join(dir, 'status'), '');
  const conf = [
    `Dir::Etc::SourceList "/dev/null";`,
    `Dir::Etc::SourceParts "${dir}/sources.list.d";`,
    `Dir::Etc::Preferences "/dev/null";`,
    `Dir::Etc::PreferencesParts "${dir}/preferences.d";`,
    `Dir::State::Lists "${dir}/lists";`,
    `Dir::State::status "${arch === undefined ? '/dev/null' : `${dir}/status`}";`,
    `Dir::Cache "${dir}";`,
    `Dir::Cache::archives "${dir}/archives";`,
    ...(arch === undefined ? [] : [`APT::Architecture "${arch}";`, `APT::Architectures { "${arch}"; };`]),
    `APT::Sandbox::User "root";`,
    `Debug::NoLocking "true";`,
  ];
  await writeFile(join(dir, 'apt.conf'), `${conf.join('\n')}\n`);
  return { dir, opts: { outcome: 'source-failed', env: { APT_CONFIG: join(dir, 'apt.conf') } } };
}
