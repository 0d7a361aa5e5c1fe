import { describe, expect, it } from 'vitest';
import { parseKernelSpec } from '../../orchestrator/kernel/spec.ts';
import { parseDeb822, parseOneLine } from '../../orchestrator/host/apt-sources.ts';

describe('kernel specs', () => {
  it('maps Debian packages to the suite that carries them', () => {
    expect(parseKernelSpec('linux-source-7.3')).toMatchObject({ kind: 'debian', package: 'linux-source-7.3', suite: 'trixie-backports' });
    expect(parseKernelSpec('debian:linux-source-7.2')).toMatchObject({ suite: 'sid' });
    expect(parseKernelSpec('debian:linux-source-7.4@experimental')).toMatchObject({ suite: 'experimental' });
  });

  it('refuses a Debian package no known suite carries, naming the option', () => {
    expect(() => parseKernelSpec('debian:linux-source-9.9')).toThrow(/--kernel: 'debian:linux-source-9.9': no known Debian suite/);
  });

  it('splits git repository and ref at the last #', () => {
    expect(parseKernelSpec('git:/src/linux.git#v7.3')).toMatchObject({ kind: 'git', repository: '/src/linux.git', ref: 'v7.3' });
    expect(parseKernelSpec('git:/src/linux.git')).toMatchObject({ ref: 'HEAD' });
  });

  it('takes paths as local trees', () => {
    expect(parseKernelSpec('/src/linux')).toMatchObject({ kind: 'local', dir: '/src/linux' });
    expect(parseKernelSpec('path:/src/linux/')).toMatchObject({ kind: 'local', dir: '/src/linux' });
  });

  it('rejects anything else with the accepted forms', () => {
    expect(() => parseKernelSpec('linux', '--kernel-into')).toThrow(/--kernel-into: 'linux' is not a kernel spec/);
  });
});

describe('host apt sources', () => {
  it('reads deb822 stanzas, skipping disabled ones', () => {
    const text = [
      'Types: deb',
      'URIs: http://mirror.example/debian',
      'Suites: bookworm bookworm-updates',
      'Components: main',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      '',
      'Enabled: no',
      'Types: deb',
      'URIs: http://other.example/debian',
      'Suites: trixie',
      'Components: main',
    ].join('\n');
    expect(parseDeb822(text)).toEqual([
      {
        types: ['deb'],
        uris: ['http://mirror.example/debian'],
        suites: ['bookworm', 'bookworm-updates'],
        components: ['main'],
        signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg',
      },
    ]);
  });

  it('reads one-line entries with options', () => {
    expect(parseOneLine('deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib # x\n')).toEqual([
      { types: ['deb'], uris: ['http://mirror.example/debian'], suites: ['bookworm'], components: ['main', 'contrib'], signedBy: '/k.gpg' },
    ]);
  });
});
