// An initramfs being assembled: entries by path, parents created on demand (the kernel's
// unpacker does not create missing directories), conflicts caught instead of silently
// overwritten.

import { type CpioEntry, normalizeCpioPath } from './cpio.ts';

type Data = { readonly data: Buffer } | { readonly source: string };

export class ImageTree {
  private readonly byPath = new Map<string, CpioEntry>();

  has(path: string): boolean {
    return this.byPath.has(normalizeCpioPath(path));
  }

  dir(path: string, mode = 0o755): this {
    const p = normalizeCpioPath(path);
    const existing = this.byPath.get(p);
    if (existing !== undefined) {
      if (existing.type !== 'dir') throw new Error(`${p}: already a ${existing.type}`);
      // An explicit mode wins over the default given to an implicit parent.
      this.byPath.set(p, { ...existing, mode });
      return this;
    }
    this.parents(p);
    this.byPath.set(p, { type: 'dir', path: p, mode });
    return this;
  }

  file(path: string, content: Data, mode = 0o644): this {
    const entry: CpioEntry = { type: 'file', path: normalizeCpioPath(path), mode, ...content };
    return this.add(entry);
  }

  symlink(path: string, target: string): this {
    return this.add({ type: 'symlink', path: normalizeCpioPath(path), target, mode: 0o777 });
  }

  nod(path: string, dev: 'c' | 'b', major: number, minor: number, mode: number): this {
    return this.add({ type: 'nod', path: normalizeCpioPath(path), dev, major, minor, mode });
  }

  entries(): CpioEntry[] {
    return [...this.byPath.values()];
  }

  private add(entry: CpioEntry): this {
    const existing = this.byPath.get(entry.path);
    if (existing !== undefined) {
      // The same library reached from two binaries is fine; anything else is a real conflict.
      if (sameEntry(existing, entry)) return this;
      throw new Error(`${entry.path}: conflicting entries in the image`);
    }
    this.parents(entry.path);
    this.byPath.set(entry.path, entry);
    return this;
  }

  private parents(path: string): void {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      const existing = this.byPath.get(dir);
      if (existing === undefined) this.byPath.set(dir, { type: 'dir', path: dir, mode: 0o755 });
      else if (existing.type !== 'dir') throw new Error(`${dir}: is a ${existing.type}, cannot hold ${path}`);
    }
  }
}

function sameEntry(a: CpioEntry, b: CpioEntry): boolean {
  if (a.type !== b.type || a.mode !== b.mode) return false;
  if (a.type === 'file' && b.type === 'file') {
    if ('source' in a && 'source' in b) return a.source === b.source;
    if ('data' in a && 'data' in b) return a.data.equals(b.data);
    return false;
  }
  if (a.type === 'symlink' && b.type === 'symlink') return a.target === b.target;
  return a.type === 'dir';
}
