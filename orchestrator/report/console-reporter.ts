import type { RunResult, ScenarioResult, StepResult } from './results.ts';
import { formatSeconds } from './progress.ts';

export interface Reporter {
  scenarioStart?(name: string, description: string): void;
  step?(scenario: string, step: StepResult): void;
  scenarioEnd?(result: ScenarioResult): void;
  runEnd?(run: RunResult): Promise<void> | void;
}

const MARK = { passed: 'ok  ', failed: 'FAIL', skipped: 'skip', error: 'ERR ', xfail: 'xfail' } as const;

/** Live lines per scenario and step, then what broke and where, then a summary. */
export function consoleReporter(stream: NodeJS.WritableStream = process.stderr, summary: NodeJS.WritableStream = process.stdout): Reporter {
  const w = (line: string) => stream.write(`${line}\n`);
  return {
    scenarioStart(name, description) {
      w(`▶ ${name}: ${description}`);
    },
    step(_scenario, st) {
      const note = st.message ?? '';
      w(`  ${MARK[st.status]} ${String(st.index + 1).padStart(2)}. ${st.name} (${formatSeconds(st.durationMs / 1000)})${note === '' ? '' : `: ${note}`}`);
    },
    scenarioEnd(r) {
      const extra = r.blackoutsMs.length > 0 ? `, blackout ${r.blackoutsMs.map((b) => formatSeconds(b / 1000)).join(' / ')}` : '';
      w(`${MARK[r.status]} ${r.name} in ${formatSeconds(r.durationMs / 1000)}${extra}${r.status === 'skipped' ? `: ${r.message ?? ''}` : ''}`);
      if (r.status === 'failed' || r.status === 'error') {
        w(`  ${r.outcome ?? 'failed'}: ${r.message ?? ''}`);
        for (const e of r.evidence ?? []) w(`    ${e}`);
        w(`  artifacts: ${r.artifactsDir}`);
      }
    },
    runEnd(run) {
      const s = run.summary;
      w('');
      w(`kernel ${run.kernel.release} (${run.kernel.describe}), ${run.accel.accel}: ${run.scenarios.length} scenarios in ${formatSeconds(run.durationMs / 1000)}`);
      summary.write(`${s.passed} passed, ${s.failed + s.error} failed${s.skipped > 0 ? `, ${s.skipped} skipped` : ''}${s.xfail > 0 ? ` (${s.xfail} known kernel bug${s.xfail === 1 ? '' : 's'} seen: xfail)` : ''}\n`);
    },
  };
}
