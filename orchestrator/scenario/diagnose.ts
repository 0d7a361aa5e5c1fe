import { parseMarkers, summarizeBoot } from '../kho/markers.ts';
import type { Vm } from '../vm/vm.ts';

/**
 * Why sessions did not arrive in this boot, from what its console (and the previous boot's) says:
 * the lines a kernel developer would look for first.
 */
export function handoverDiagnosis(vm: Vm, how: { syscall?: 'file' | 'legacy'; append?: string; kexecAppend?: string }): string[] {
  const lines = vm.console.lines().map((l) => ({ text: l.text, boot: l.boot }));
  const markers = parseMarkers(lines);
  const now = summarizeBoot(markers, vm.boots);
  const out: string[] = [];
  if (vm.boots < 2) out.push('no kexec happened in this scenario (still in boot 1)');
  else if (!now.khoFound) {
    out.push(`boot ${vm.boots} got no KHO handover: 'KHO: found kexec handover data' is not on its console`);
    if (how.syscall === 'legacy') out.push('the kexec image was loaded with kexec_load (kexec -l without -s), which never carries KHO data');
  } else {
    out.push(`boot ${vm.boots}: KHO handover found`);
    out.push(now.liveupdateNumber === undefined ? 'but LUO retrieved nothing (no "luo: Retrieved live update data")' : `LUO live update number ${now.liveupdateNumber}`);
  }
  if (now.luoDisabled) out.push("LUO is disabled in this kernel ('luo: Disabling liveupdate because KHO is disabled')");
  if (/(^|\s)kho=(off|0|n)/.test(how.append ?? '')) out.push(`the kernel command line turns KHO off (${how.append ?? ''})`);
  if (vm.boots > 1 && /(^|\s)kho=(off|0|n)/.test(how.kexecAppend ?? '')) out.push(`the kexec'd kernel was started with ${how.kexecAppend ?? ''}: it ignores the handover`);
  for (const f of now.failures) out.push(`console: ${f.message}`);
  return out;
}
