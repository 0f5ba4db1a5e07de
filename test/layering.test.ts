/**
 * The layers of HOUSE_STYLE.md hold on the real import graph: dependency-cruiser checks every
 * rule of .dependency-cruiser.cjs (domain pure, controller not service, graphql not transport,
 * controller or store functions, observability not transport, invoke not service, runtime not
 * store, no cycles). A new violation fails here with the offending import named.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);

/** Runs dependency-cruiser over `src` of `cwd`; its exit code is the number of violations. */
async function depcruise(cwd: string, config: string): Promise<{ code: number; output: string }> {
  const bin = resolve(ROOT, 'node_modules/.bin/depcruise');
  return run(bin, ['--config', config, '--output-type', 'err', 'src'], { cwd }).then(
    ({ stdout }) => ({ code: 0, output: stdout }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({
      code: error.code ?? 1,
      output: `${error.stdout ?? ''}${error.stderr ?? ''}`,
    }),
  );
}

describe('layering', () => {
  it('has no import that crosses a layer the wrong way, and no import cycle', async () => {
    const outcome = await depcruise(ROOT, '.dependency-cruiser.cjs');
    expect(outcome.output, 'dependency-cruiser found layering violations').not.toMatch(/error /);
    expect(outcome.code).toBe(0);
  });

  it('reports a forbidden import when one is made (the check can fail)', async () => {
    // A scratch tree shaped like ours, where the domain imports the store: the rule must fire.
    const dir = await mkdtemp(join(tmpdir(), 'layering-'));
    try {
      await mkdir(join(dir, 'src/domain'), { recursive: true });
      await mkdir(join(dir, 'src/store'), { recursive: true });
      await writeFile(join(dir, 'tsconfig.json'), await readFile(join(ROOT, 'tsconfig.json')));
      await writeFile(join(dir, 'src/store/rows.ts'), 'export const rows = 1;\n');
      await writeFile(join(dir, 'src/domain/rule.ts'), "import { rows } from '../store/rows.js';\nexport const n = rows;\n");
      const outcome = await depcruise(dir, join(ROOT, '.dependency-cruiser.cjs'));
      expect(outcome.output).toMatch(/domain-is-pure: src\/domain\/rule\.ts → src\/store\/rows\.ts/);
      expect(outcome.code).not.toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
