import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MILESTONE_PREFIX, parseMilestone } from '../../orchestrator/rootfs/milestones.ts';

describe('console milestones', () => {
  it('parses what /init prints', () => {
    expect(parseMilestone('handover: sshd up boot_id=e2436b31-7ddd-4350-ac97-303429632c12 port=22 uptime=1.51\r')).toEqual({
      event: 'sshd up',
      fields: { boot_id: 'e2436b31-7ddd-4350-ac97-303429632c12', port: '22', uptime: '1.51' },
      uptime: 1.51,
    });
    expect(parseMilestone('handover: error what=no-eth0 uptime=6.1')).toMatchObject({ event: 'error', fields: { what: 'no-eth0' } });
  });

  it('tolerates printk text before the prefix and ignores other lines', () => {
    expect(parseMilestone('[    1.2] foo handover: net up ip=10.0.2.15/24')?.event).toBe('net up');
    expect(parseMilestone('[    0.000000] Linux version 7.3.4')).toBeNull();
    expect(parseMilestone('handover: something else')).toBeNull();
    expect(parseMilestone('handover: init started')).toBeNull();
  });

  it('knows every event /init (rootfs/agent/init.c) can print', () => {
    const init = readFileSync(join(import.meta.dirname, '../../rootfs/agent/init.c'), 'utf8');
    // say("<event> key=...") / fatal("key=...") (fatal prints "error ...")
    const events = new Set([...init.matchAll(/\bsay\("([a-z]+(?: [a-z]+)?)(?= [a-z_]+=| %s|")/g)].map((m) => m[1]));
    if (/\bfatal\("/.test(init)) events.add('error');
    expect([...events].sort()).toEqual(['error', 'init start', 'net up', 'sshd up', 'warning']);
    for (const e of events) expect(parseMilestone(`${MILESTONE_PREFIX}${e} x=1`)?.event, e).toBe(e);
  });
});
